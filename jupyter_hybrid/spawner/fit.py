"""The spawn form's view of environments: which sites can run each one. The decision itself is
``placement.place`` with the sites' ``environment_problems``, the same call the hub's start path
and ``jupyter hybrid placement explain`` make."""

from __future__ import annotations

from ..catalog import Catalog
from ..placement import Decision, EnvironmentProblems, Request, place
from ..sitedata import SiteState

#: environment -> site -> why it cannot run there (None: it can)
SiteProblems = EnvironmentProblems


def environment_problem(problems: SiteProblems, environment: str) -> str | None:
    """Why an environment can run on no site at all, or None."""
    found = problems.get(environment, {})
    if not found or any(p is None for p in found.values()):
        return None
    return next(iter(found.values()))


def place_with_environment(
    catalog: Catalog, request: Request, states: dict[str, SiteState], problems: SiteProblems
) -> Decision:
    """``place()`` leaving out the sites that cannot run the request's environment (kept for the form)."""
    return place(catalog, request, states, problems)
