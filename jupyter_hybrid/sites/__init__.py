"""Sites: where workloads run. The only room that starts processes or talks to clusters."""

from .base import BaseSite, CapacityError, SiteState
from .local import LocalSite
from .registry import SiteRegistry

__all__ = ["BaseSite", "CapacityError", "LocalSite", "SiteRegistry", "SiteState"]
