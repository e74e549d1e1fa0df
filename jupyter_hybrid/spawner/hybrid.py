"""HybridSpawner: the user picks a hardware tier and an environment; placement picks the site;
the site's own spawner (LocalProcessSpawner here, KubeSpawner on clusters) runs the server.

A fresh child spawner is built for every start, from the chosen tier alone, so a failed spawn
leaves nothing behind for the next one.
"""

from __future__ import annotations

from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, Spawner
from tornado import web
from traitlets import Type, Unicode, default

from ..catalog import Catalog, CatalogFile
from ..placement import Request, place
from ..sites import CapacityError, SiteRegistry, SiteState
from ..sites.base import Allocation
from .form import render_form
from .options import Choice, OptionsError, options_from_form, validate_options

DEFAULT_CATALOG = str(Path(__file__).parent.parent / "catalog" / "default.yaml")

# one registry per hub process: site objects hold the allocations of every user's servers
REGISTRY = SiteRegistry()
_CATALOGS: dict[str, CatalogFile] = {}


def _catalog_file(path: str) -> CatalogFile:
    if path not in _CATALOGS:
        _CATALOGS[path] = CatalogFile(path)
    return _CATALOGS[path]


class HybridSpawner(Spawner):
    """Spawn on the site that placement chooses for the user's tier and environment."""

    catalog_file = Unicode(
        DEFAULT_CATALOG,
        help="""Path of the catalog YAML (sites, hardware tiers, environments).

        Validated on first use; edits are picked up on the next form or spawn. An edit that breaks
        the file keeps the last valid catalog and logs the error. Default: the packaged catalog
        with one site, `local` (this machine).
        """,
    ).tag(config=True)

    local_spawner_class = Type(
        LocalProcessSpawner,
        klass=Spawner,
        help="""Spawner class that runs servers on `local` sites.

        Default: JupyterHub's LocalProcessSpawner (a system user per hub user). The demo uses
        SimpleLocalProcessSpawner, which needs no system users and isolates nothing.
        Configure it as usual, e.g. `c.LocalProcessSpawner.interrupt_timeout`.
        """,
    ).tag(config=True)

    def __init__(self, **kwargs):
        # kept to build child spawners that share this server's user, ORM record and hub
        self._init_kwargs = dict(kwargs)
        self.child: Spawner | None = None
        self.choice: Choice | None = None
        self.site_name: str | None = None
        self.allocation: Allocation | None = None
        self.placement_reasons: list[str] = []
        self._resolved: tuple[dict, tuple] | None = None  # (options, resolve()'s result)
        super().__init__(**kwargs)

    # --- catalog, sites and the user's groups --------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        cf = _catalog_file(self.catalog_file)
        catalog = cf.get()
        if cf.error:
            self.log.error("Catalog edit ignored, still using the last valid one: %s", cf.error)
        return catalog

    def _groups(self) -> frozenset[str]:
        groups = getattr(self.user, "groups", None) or []
        return frozenset(getattr(g, "name", g) for g in groups)

    @property
    def _key(self) -> str:
        return f"{self.user.name}/{self.name}"

    def site_states(self) -> dict[str, SiteState]:
        states = {}
        for name, site in REGISTRY.sync(self.catalog).items():
            try:
                states[name] = site.state()
            except Exception as e:  # a broken site is shown unavailable; the hub carries on
                self.log.warning("Site %s did not report its state: %s", name, e)
                states[name] = SiteState(
                    name=name, kind=site.kind, region=site.spec.region, reachable=False, error=str(e)
                )
        return states

    def make_child_spawner(self, cls: type[Spawner]) -> Spawner:
        """A spawner of ``cls`` for this same server (used by sites)."""
        child = cls(**self._init_kwargs)
        for attr in ("api_token", "admin_access", "cert_paths", "user_options", "handler"):
            if hasattr(self, attr):
                setattr(child, attr, getattr(self, attr))
        return child

    # --- form and user_options -----------------------------------------------------------------

    @default("options_form")
    def _default_options_form(self):
        return HybridSpawner._render_options_form

    @staticmethod
    def _render_options_form(spawner: HybridSpawner) -> str:
        catalog = spawner.catalog
        saved = dict(spawner.orm_spawner.user_options or {}) if spawner.orm_spawner else {}
        notice = None
        try:
            validate_options(catalog, saved, spawner._groups())
        except OptionsError as e:
            notice = f"Your last choice can no longer be used: {e}"
        sites = REGISTRY.sync(catalog)
        env_problems = {}
        for name, env in catalog.environments.items():
            problems = [sites[s].environment_problem(env) for s in catalog.sites]
            env_problems[name] = None if None in problems else problems[0]
        return render_form(catalog, spawner.site_states(), spawner._groups(), saved, env_problems, notice)

    @default("options_from_form")
    def _default_options_from_form(self):
        return HybridSpawner._options_from_form

    @staticmethod
    def _options_from_form(form_data, spawner: HybridSpawner):
        try:
            options = options_from_form(form_data)
        except OptionsError as e:
            raise web.HTTPError(400, str(e)) from None
        spawner.resolve(options)  # refuse a bad choice now, with the form shown again
        return options

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return HybridSpawner._apply_user_options

    @staticmethod
    def _apply_user_options(spawner: HybridSpawner, user_options: dict) -> None:
        # JupyterHub calls this right before start(): start() reuses the decision
        spawner._resolved = (dict(user_options or {}), spawner.resolve(user_options))

    def resolve(self, user_options) -> tuple[Choice, str, list[str]]:
        """Validate options and place them: (choice, site, reasons), or HTTP 400 saying why."""
        catalog = self.catalog
        try:
            choice = validate_options(catalog, user_options, self._groups())
        except OptionsError as e:
            raise web.HTTPError(400, str(e)) from None
        request = Request(self.user.name, self._groups(), choice.tier, choice.environment)
        decision = place(catalog, request, self.site_states())
        if decision.site is None:
            tier = catalog.title("tiers", choice.tier)
            raise web.HTTPError(400, f"{tier} cannot start now: {'; '.join(decision.reasons)}")
        env = catalog.environments[choice.environment]
        problem = REGISTRY.get(decision.site).environment_problem(env)
        if problem:
            raise web.HTTPError(
                400, f"environment {choice.environment!r} cannot run on {decision.site}: {problem}"
            )
        self.placement_reasons = decision.reasons
        return choice, decision.site, decision.reasons

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self):
        resolved, self._resolved = self._resolved, None
        if resolved is None or resolved[0] != dict(self.user_options or {}):
            resolved = (None, self.resolve(self.user_options))  # apply_user_options was replaced
        choice, site_name, reasons = resolved[1]  # capacity is checked again by reserve() below
        catalog = self.catalog
        site = REGISTRY.get(site_name)
        try:
            allocation = site.reserve(self._key, catalog.tiers[choice.tier])
        except CapacityError as e:
            raise web.HTTPError(400, f"{catalog.title('tiers', choice.tier)} cannot start now: {e}") from None
        names = {"tier": choice.tier, "site": site_name, "environment": choice.environment}
        self.log.info("Placing %s: %s", self._log_name, "; ".join(reasons))
        try:
            child = site.server_spawner(
                self, catalog.tiers[choice.tier], catalog.environments[choice.environment], names, allocation
            )
            self.child, self.choice, self.site_name, self.allocation = child, choice, site_name, allocation
            return await child.start()
        except BaseException:
            site.release(self._key)
            self.child = self.choice = self.site_name = self.allocation = None
            raise

    async def progress(self):
        if self.placement_reasons:
            yield {"progress": 10, "message": "Placement: " + "; ".join(self.placement_reasons)}
        if self.child is not None:
            async for event in self.child.progress():
                yield event

    async def poll(self):
        if self.child is None:
            return 0
        status = await REGISTRY.get(self.site_name).poll_server(self.child)
        if status is not None:
            self._release()
        return status

    async def stop(self, now=False):
        if self.child is None:
            return
        await REGISTRY.get(self.site_name).stop_server(self.child, now=now)
        self._release()

    def _release(self):
        if self.site_name and REGISTRY.get(self.site_name):
            REGISTRY.get(self.site_name).release(self._key)

    # --- state across hub restarts --------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.child is not None:
            state["hybrid"] = {
                "tier": self.choice.tier,
                "environment": self.choice.environment,
                "site": self.site_name,
                "site_kind": REGISTRY.get(self.site_name).kind,
                "allocation": self.allocation.to_dict(),
                "child": self.child.get_state(),
            }
        return state

    def load_state(self, state):
        super().load_state(state)
        saved = state.get("hybrid")
        if not saved:
            return
        REGISTRY.sync(self.catalog)
        site = REGISTRY.attach(saved["site"], saved["site_kind"])
        self.choice = Choice(saved["tier"], saved["environment"])
        self.site_name = saved["site"]
        self.allocation = Allocation(**saved["allocation"])
        site.restore(self._key, self.allocation)
        self.child = site.server_spawner(self, None, None, {}, self.allocation)
        self.child.load_state(saved["child"])

    def clear_state(self):
        super().clear_state()
        self._release()
        self.child = self.choice = self.site_name = self.allocation = None
