"""Placement: request + site states -> a ranked decision with reasons. Pure: no I/O."""

from .decide import EnvironmentProblems, environment_problems, place
from .model import Decision, Request, Usage
from .rules import access_problem, tier_fit_problem
from .usage import usage_of

__all__ = [
    "Decision",
    "EnvironmentProblems",
    "Request",
    "Usage",
    "access_problem",
    "environment_problems",
    "place",
    "tier_fit_problem",
    "usage_of",
]
