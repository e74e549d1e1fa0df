"""The live site objects of one hub process, kept in step with the catalog."""

from __future__ import annotations

from ..catalog import Catalog
from .base import BaseSite
from .local import LocalSite


def _kubernetes() -> type[BaseSite]:
    # imported on first use: kubernetes_asyncio and kubespawner take seconds to import,
    # which every CLI call and a hub with only local sites would otherwise pay
    from .kubernetes import KubernetesSite

    return KubernetesSite


KINDS = {"local": lambda: LocalSite, "kubernetes": _kubernetes}


class SiteRegistry:
    """Site objects by name. Objects survive catalog reloads so their allocations are kept."""

    def __init__(self):
        self.sites: dict[str, BaseSite] = {}

    def sync(self, catalog: Catalog) -> dict[str, BaseSite]:
        for name, spec in catalog.sites.items():
            site = self.sites.get(name)
            if site is None or site.kind != spec.kind:
                self.sites[name] = KINDS[spec.kind]()(name, spec)
            else:
                site.spec = spec
        return {name: self.sites[name] for name in catalog.sites}

    def get(self, name: str) -> BaseSite | None:
        return self.sites.get(name)

    def attach(self, name: str, kind: str) -> BaseSite:
        """The site a running server was placed on, even if the catalog no longer declares it."""
        site = self.sites.get(name)
        if site is None:
            from ..catalog.model import Site

            site = self.sites[name] = KINDS[kind]()(name, Site(kind=kind))
        return site
