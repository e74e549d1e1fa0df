"""HybridSpawner: the user picks a hardware tier, an environment, datasets and tier options;
placement picks the site (access, quotas, residency, capacity, price); the site's own spawner
(LocalProcessSpawner here, KubeSpawner on clusters) runs the server.

A fresh child spawner is built for every start, from the chosen tier alone, so a failed spawn
leaves nothing behind for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, Spawner
from tornado import web
from traitlets import Float, Type, Unicode, default

from ..catalog import Catalog, CatalogFile
from ..placement import Decision, Request, Usage, environment_problems, place, tier_fit_problem, usage_of
from ..sites import CapacityError, SiteRegistry, SiteState
from ..sites.base import Allocation, BaseSite, gpu_label
from ..store.db import default_url
from .fit import SiteProblems
from .form import public_reasons, render_form, site_title, wait_text
from .options import Choice, OptionsError, option_overrides, options_from_form, validate_options

DEFAULT_CATALOG = str(Path(__file__).parent.parent / "catalog" / "default.yaml")

# one registry per hub process: site objects hold the allocations of every user's servers
REGISTRY = SiteRegistry()
_CATALOGS: dict[str, CatalogFile] = {}
_LOGGED: dict[str, str] = {}  # site -> the error last logged for it (each error text logged once)
_LEDGERS: dict[str, object] = {}  # store URL -> its Ledger (one engine per store and process)
#: how often start() decides again when other servers took capacity or quota meanwhile
PLACEMENT_RETRIES = 3


class UsageChanged(Exception):
    """Quota usage changed between the decision and the hold (another process held meanwhile)."""


def ledger_for(url: str):
    """The allocation ledger of the store at ``url`` (opened, and migrated, on first use)."""
    if url not in _LEDGERS:
        from ..store import Ledger, make_engine

        _LEDGERS[url] = Ledger(make_engine(url))
    return _LEDGERS[url]


class Refusal(web.HTTPError):
    """A spawn refused for a reason the user can act on (options, quota, no room now).

    The hub shows the message as it is (form, REST and progress page), not wrapped in
    "HTTP 400: Bad Request (...)"; the spawner logs it once as a WARNING line (``_refused``) and
    ``RefusalFilter`` drops the hub's own ERROR lines and tracebacks about it."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.jupyterhub_message = message


def user_error(status: int, message: str) -> Refusal:
    return Refusal(status, message)


#: set on the one log record of a refusal, which ``RefusalFilter`` keeps
_OURS = "hybrid_refusal"


class RefusalFilter(logging.Filter):
    """Drop what JupyterHub and tornado log about a ``Refusal`` (an ERROR with its traceback,
    "Error starting ...'s server: ...", tornado's "400 POST ...: message"): a refused spawn is the
    user's to fix, not a hub error, and the spawner has already logged it in one WARNING line.

    A record is theirs when it carries the refusal (``exc_info``) or is logged while the refusal is
    being handled and repeats its message; any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _OURS, False):
            return True
        error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        if not isinstance(error, Refusal):
            return True
        return not (record.exc_info or error.log_message in record.getMessage())


def _filter_refusals(log: logging.Logger) -> None:
    # the hub's own logger, and tornado's that JupyterHub logs through (User.log is app_log)
    names = ("JupyterHub", "tornado.application", "tornado.general")
    for logger in {log, *map(logging.getLogger, names)}:
        if not any(isinstance(f, RefusalFilter) for f in logger.filters):
            logger.addFilter(RefusalFilter())


def _catalog_file(path: str) -> CatalogFile:
    if path not in _CATALOGS:
        _CATALOGS[path] = CatalogFile(path)
    return _CATALOGS[path]


def _log_site(log: logging.Logger, state: SiteState) -> None:
    """Log once when a site that ``read_state`` found failing answers again."""
    if state.reachable and _LOGGED.pop(state.name, None) is not None:
        log.info("Site %s is reachable again", state.name)


async def read_state(site: BaseSite, timeout: float, log: logging.Logger | None = None) -> SiteState:
    """``await site.refresh()``, or an unreachable state carrying the error: never raises.

    A site logs the errors it reports itself; an error raised out of ``refresh`` (or a timeout) is
    logged here, once per distinct text."""
    try:
        return await asyncio.wait_for(site.refresh(), timeout)
    except Exception as e:
        if isinstance(e, asyncio.TimeoutError):
            error = f"no answer within {timeout:g} s"
        else:
            error = str(e) or type(e).__name__
        if log is not None and _LOGGED.get(site.name) != error:
            log.warning("Site %s is unavailable: %s", site.name, error)
            _LOGGED[site.name] = error
        return SiteState(
            name=site.name,
            kind=site.kind,
            region=site.spec.region,
            display_name=site.spec.display_name,
            on_prem=site.spec.on_prem,
            cost_per_hour=site.spec.cost_per_hour,
            prices=dict(site.spec.prices),
            reachable=False,
            error=error,
        )


@dataclass
class Resolution:
    """Validated options and where placement put them (made in apply_user_options, used by start)."""

    choice: Choice
    decision: Decision
    usage: Usage  # the quota usage the decision was made with
    shown: list[str] | None = None  # the decision's reasons as this user may read them

    @property
    def site(self) -> str:
        return self.decision.site


class HybridSpawner(Spawner):
    """Spawn on the site that placement chooses for the user's tier, environment and datasets."""

    catalog_file = Unicode(
        DEFAULT_CATALOG,
        help="""Path of the catalog YAML (sites, hardware tiers, environments, datasets, quotas).

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

    site_state_timeout = Float(
        10.0,
        help="""Seconds to wait for one site's live state (all sites are read at once) before
        showing it as unavailable and placing without it. Default: 10 seconds.

        How long a read is reused is each site's `refresh_seconds` in the catalog.
        """,
    ).tag(config=True)

    store_url = Unicode(
        help="""SQLAlchemy URL of the store whose allocation ledger records what every server holds.

        The hub's spawner and the jupyter-hybrid control-plane service (job runs, API
        deployments) must name the same store: local GPUs are then never handed out twice, and
        quotas count servers, job runs and deployments alike. Empty: servers are counted in this
        hub process only (runs and deployments are not seen). Default: $JUPYTER_HYBRID_DB_URL,
        else SQLite in <jupyter data dir>/jupyter_hybrid/hybrid.sqlite (as the server extension).
        """,
    ).tag(config=True)

    @default("store_url")
    def _default_store_url(self):
        return default_url()

    def __init__(self, **kwargs):
        # kept to build child spawners that share this server's user, ORM record and hub
        self._init_kwargs = dict(kwargs)
        self.child: Spawner | None = None
        self.choice: Choice | None = None
        self.site_name: str | None = None
        self.allocation: Allocation | None = None
        self.placement_reasons: list[str] = []
        self.placement_wait: float | None = None
        self.placement_where = ""  # 'Small on This machine (local)', for the progress page
        self.placement_shown: list[str] = []
        self._resolved: tuple[dict, Resolution] | None = None  # (options, resolve()'s result)
        super().__init__(**kwargs)
        # the options of the last spawn that was not refused (JupyterHub saves options before
        # apply_user_options can refuse them; _refused puts these back)
        self._kept_options = dict(self.user_options or {})
        _filter_refusals(self.log)

    # --- catalog, sites, the user's groups and quota usage -------------------------------------

    @property
    def catalog(self) -> Catalog:
        cf = _catalog_file(self.catalog_file)
        catalog = cf.get()
        if cf.error:
            self.log.error("Catalog edit ignored, still using the last valid one: %s", cf.error)
        return catalog

    @property
    def _admin(self) -> bool:
        """A hub admin: sees each site's error in full; everyone else one short line."""
        return bool(getattr(self.user, "admin", False))

    def _groups(self) -> frozenset[str]:
        groups = getattr(self.user, "groups", None) or []
        return frozenset(getattr(g, "name", g) for g in groups)

    @property
    def _key(self) -> str:
        return f"{self.user.name}/{self.name}"

    @property
    def ledger(self):
        """The store's allocation ledger (``store_url``), or None."""
        url = self.store_url.strip()
        return ledger_for(url) if url else None

    def _sites(self) -> dict[str, BaseSite]:
        """The catalog's sites, each reading and writing this hub's ledger."""
        sites = REGISTRY.sync(self.catalog)
        ledger = self.ledger
        for site in REGISTRY.sites.values():
            site.ledger = ledger
        return sites

    async def site_states(self) -> dict[str, SiteState]:
        """Every catalog site's live state, read concurrently; a failing site is unreachable."""
        sites = self._sites()
        states = await asyncio.gather(
            *(read_state(s, self.site_state_timeout, self.log) for s in sites.values())
        )
        for state in states:
            _log_site(self.log, state)
        return dict(zip(sites, states, strict=True))

    def usage(self) -> Usage:
        """GPUs and cores held now by this user and their groups on every site (this server excluded):
        from the ledger, every kind of workload (servers, job runs, deployments) of every process;
        without one, the servers of this hub process."""
        ledger = self.ledger
        if ledger is not None:
            return ledger.usage(self.user.name, exclude=("server", self._key))
        held = [
            a for site in REGISTRY.sites.values() for key, a in site.allocations.items() if key != self._key
        ]
        return usage_of(held, self.user.name)

    def _usage_check(self, expected: Usage):
        """For ``Ledger.hold``: raise UsageChanged when what the user and their groups hold now (every
        other workload, read in the hold's transaction) is not what the decision was made with."""
        user = self.user.name

        def check(others: list[Allocation]) -> None:
            if usage_of(others, user) != expected:
                raise UsageChanged()

        return check

    @staticmethod
    def environment_problems(catalog: Catalog) -> SiteProblems:
        """environment -> site -> why it cannot run there (None: it can)."""
        return environment_problems(catalog, REGISTRY.sync(catalog))

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
    async def _render_options_form(spawner: HybridSpawner) -> str:
        catalog = spawner.catalog
        saved = dict(spawner.orm_spawner.user_options or {}) if spawner.orm_spawner else {}
        notice = None
        try:
            validate_options(catalog, saved, spawner._groups())
        except OptionsError as e:
            notice = f"Your last choice can no longer be used: {e}"
        states = await spawner.site_states()
        env_problems = spawner.environment_problems(catalog)
        return render_form(
            catalog,
            states,
            spawner._groups(),
            saved,
            env_problems,
            notice,
            spawner.usage(),
            spawner.user.name,
            admin=spawner._admin,
        )

    @default("options_from_form")
    def _default_options_from_form(self):
        return HybridSpawner._options_from_form

    @staticmethod
    async def _options_from_form(form_data, spawner: HybridSpawner):
        try:
            try:
                options = options_from_form(form_data, spawner.catalog)
            except OptionsError as e:
                raise user_error(400, str(e)) from None
            await spawner.resolve(options)  # refuse a bad choice now, with the form shown again
        except Refusal as e:
            raise spawner._refused(e) from None
        return options

    def options_from_query(self, query_data):
        """``/hub/spawn?tier=...``: the same parsing and checks as the form."""
        return self.run_options_from_form(query_data)

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return HybridSpawner._apply_user_options

    @staticmethod
    async def _apply_user_options(spawner: HybridSpawner, user_options: dict) -> None:
        # JupyterHub calls this right before start() (form, REST and saved options): start() reuses it
        try:
            spawner._resolved = (dict(user_options or {}), await spawner.resolve(user_options))
        except Refusal as e:
            raise spawner._refused(e) from None

    def _refused(self, error: Refusal) -> Refusal:
        """Log a refusal in one WARNING line and keep nothing of it: JupyterHub saved the refused
        options on the server record before they were checked (REST spawns), so the next form or
        ``POST .../server`` without a body would reuse them; the last options not refused go back."""
        self.log.warning("Refused to start %s: %s", self._log_name, error.log_message, extra={_OURS: True})
        kept = dict(self._kept_options)
        self.user_options = kept
        orm = self.orm_spawner
        if orm is not None and (orm.user_options or {}) != kept:
            orm.user_options = kept
            db = getattr(self.user, "db", None)
            if db is not None:
                db.commit()
        return error

    async def resolve(self, user_options) -> Resolution:
        """Validate options and place them, or HTTP 400 saying what to change."""
        catalog = self.catalog
        groups = self._groups()
        try:
            choice = validate_options(catalog, user_options, groups)
        except OptionsError as e:
            raise user_error(400, str(e)) from None
        states = await self.site_states()
        usage = self.usage()
        request = Request(self.user.name, groups, choice.tier, choice.environment, choice.datasets, usage)
        # the same decision as `jupyter hybrid placement explain` (placement.place, same inputs)
        decision = place(catalog, request, states, self.environment_problems(catalog))
        if decision.site is None:
            tier = catalog.title("tiers", choice.tier)
            why = "; ".join(public_reasons(decision.reasons, states, catalog, self._admin))
            raise user_error(400, f"{tier} cannot start now: {why}")
        return Resolution(
            choice, decision, usage, public_reasons(decision.reasons, states, catalog, self._admin)
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self):
        try:
            return await self._start()
        except Refusal as e:
            raise self._refused(e) from None

    def _taken_meanwhile(self, resolution: Resolution) -> bool:
        """Whether quota usage changed since the decision, or its site no longer has room now
        (local sites: what other servers reserved since, within the catalog's overcommit)."""
        if self.usage() != resolution.usage:
            return True
        spec = self.catalog.sites.get(resolution.site)
        site = REGISTRY.get(resolution.site)
        if spec is None or site is None or resolution.decision.wait_seconds is not None:
            return False
        tier = self.catalog.tiers[resolution.choice.tier]
        return tier_fit_problem(tier, site.state(), spec.overcommit) is not None

    async def _start(self):
        options = dict(self.user_options or {})
        resolved, self._resolved = self._resolved, None
        resolution = resolved[1] if resolved and resolved[0] == options else await self.resolve(options)
        tries = 0
        while True:
            while self._taken_meanwhile(resolution):  # others started servers meanwhile: decide again
                tries += 1
                if tries > PLACEMENT_RETRIES:
                    raise user_error(503, "Many servers are starting at once; try again in a moment")
                resolution = await self.resolve(options)
            # no await from the check above to the hold below: quotas and room hold under concurrent
            # spawns in this hub; the ledger checks quota usage again in the hold's own transaction,
            # against what other processes (the control plane's job runs) held meanwhile
            choice, site_name, catalog = resolution.choice, resolution.site, self.catalog
            tier = catalog.tiers[choice.tier]
            site = REGISTRY.get(site_name)
            site.ledger = self.ledger
            try:
                allocation = site.hold(
                    self._key,
                    tier,
                    kind="server",
                    owner=self.user.name,
                    groups=self._groups(),
                    tier_name=choice.tier,
                    check=self._usage_check(resolution.usage) if site.ledger is not None else None,
                )
                break
            except UsageChanged:
                tries += 1
                if tries > PLACEMENT_RETRIES:
                    busy = "Many workloads are starting at once; try again in a moment"
                    raise user_error(503, busy) from None
                resolution = await self.resolve(options)
            except CapacityError as e:
                title = catalog.title("tiers", choice.tier)
                raise user_error(400, f"{title} cannot start now: {e}") from None
        self._kept_options = options  # placed and held: these are what the next form offers again
        self.placement_reasons = resolution.decision.reasons
        self.placement_wait = resolution.decision.wait_seconds
        self.placement_where = (
            f"{catalog.title('tiers', choice.tier)} on {site_title(catalog, {}, site_name)} ({site_name})"
        )
        self.placement_shown = resolution.shown or resolution.decision.reasons
        names = {"tier": choice.tier, "site": site_name, "environment": choice.environment}
        self.log.info("Placing %s: %s", self._log_name, "; ".join(self.placement_reasons))
        try:
            datasets = {}
            for name in choice.datasets:
                location = catalog.datasets[name].locations.get(site_name)
                if location is None:  # placement checks this; the catalog may have changed since
                    raise user_error(400, f"dataset {name!r} has no location on {site_name}; try again")
                datasets[name] = location
            child = site.server_spawner(
                self,
                tier,
                catalog.environments[choice.environment],
                names,
                allocation,
                datasets=datasets,
                overrides=option_overrides(tier, choice.options),
            )
            self.child, self.choice, self.site_name, self.allocation = child, choice, site_name, allocation
            try:
                return await child.start()
            except CapacityError as e:  # e.g. the cluster's scheduler found no node: full now, not a bug
                raise user_error(
                    503, f"{catalog.title('tiers', choice.tier)} cannot start now: {e}"
                ) from None
        except BaseException:
            site.release(self._key)
            self.child = self.choice = self.site_name = self.allocation = None
            raise

    async def progress(self):
        # the hub asks for progress as soon as the spawn is pending, before start() has placed the
        # server (options and site states are read first): wait for it, or the stream ends empty
        while self.child is None and self._spawn_pending:
            await asyncio.sleep(0.1)
        # where and why in the message itself (the page shows the latest one; the log is collapsed)
        why = ""
        if self.placement_reasons:
            wait = f" ({wait_text(self.placement_wait)})" if self.placement_wait is not None else ""
            why = f"{self.placement_where}{wait}: {self.placement_shown[0]}"
            yield {"progress": 10, "message": "Placement: " + "; ".join(self.placement_shown) + wait}
        if self.child is not None:
            async for event in self.child.progress():
                if why and isinstance(event, dict) and event.get("message"):
                    event = {**event, "message": f"{event['message']} — {why}"}
                    event.pop("html_message", None)  # it would replace the message; its text is kept
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
        site = REGISTRY.get(self.site_name) if self.site_name else None
        if site is not None:
            site.ledger = self.ledger
            site.release(self._key)

    # --- state across hub restarts --------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.child is not None:
            state["hybrid"] = {
                **self.choice.to_dict(),  # tier, environment, datasets, options
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
        self._sites()
        site = REGISTRY.attach(saved["site"], saved["site_kind"])
        site.ledger = self.ledger
        self.choice = Choice.from_dict(saved)
        self.site_name = saved["site"]
        self.allocation = Allocation(**saved["allocation"])
        # quota usage comes back with the allocation (older states lack user and groups)
        self.allocation.user = self.allocation.user or self.user.name
        # the ledger row is written again (idempotent): the same devices, whoever it says holds them
        tier = self.catalog.tiers.get(self.choice.tier)
        model = gpu_label(tier) if tier is not None else None
        site.restore(self._key, self.allocation, kind="server", tier_name=self.choice.tier, gpu_model=model)
        self.child = site.server_spawner(self, None, None, {}, self.allocation)
        self.child.load_state(saved["child"])

    def clear_state(self):
        super().clear_state()
        self._release()
        self.child = self.choice = self.site_name = self.allocation = None
