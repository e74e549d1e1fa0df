"""Placement: request + site states -> a ranked decision with reasons. Pure: no I/O."""

from .decide import Decision, Request, Usage, access_problem, place, tier_fit_problem

__all__ = ["Decision", "Request", "Usage", "access_problem", "place", "tier_fit_problem"]
