"""The control plane's operations on jobs and runs, as its hosts' REST handlers and the CLI call them.

Every operation takes the Caller its host authenticated and checks everything before it stores
anything: a refused request creates nothing. Operations are synchronous (one store transaction
each, run off the event loop by `api.dispatch`); the Scheduler runs what they queue.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..catalog import Catalog
from ..jobs.events import read_events, render
from ..jobs.execute import EVENTS
from ..jobs.model import JobError, JobSpec, parse_job
from ..jobs.parameters import declared_parameters
from ..jobs.publish import check_values, declared_from_json, declared_to_json, notebook_from, read_version
from ..placement import Request, environment_problems, place
from ..placement.rules import access_problem, default_for
from ..quote import quote
from ..sites import SiteRegistry
from ..spawner.options import OptionsError, validate_options
from ..store.jobs import ACTIVE, JobStore
from ..store.ledger import Ledger
from ..store.snapshots import SnapshotStore
from .identity import Caller
from .pinning import EnvironmentPins
from .views import job_view, run_view

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ControlPlane:
    """Jobs and runs for every user of one store. `catalog` returns the current catalog."""

    def __init__(
        self,
        engine,
        catalog: Callable[[], Catalog],
        runs_dir: str | Path,
        *,
        name: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        logger: logging.Logger | None = None,
    ):
        self.engine = engine
        self.jobs = JobStore(engine)
        self.catalog = catalog
        self.runs_dir = Path(runs_dir)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.name = name or socket.gethostname()  # the lease owner; see Scheduler
        self.clock = clock
        self.log = logger or log
        self.scheduler = None  # set by Scheduler: woken when something is queued
        self.sites = SiteRegistry()  # site objects shared by the scheduler and `options`
        self.site_timeout = 5.0
        self.pins = EnvironmentPins(SnapshotStore(engine), self.log)
        self.ledger = Ledger(engine)  # what servers, runs and deployments hold, in every process

    def _wake(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    def run_dir(self, run_id: int) -> Path:
        return self.runs_dir / str(int(run_id))

    # -- publishing ----------------------------------------------------------------------------

    def inspect(self, caller: Caller, content: object) -> dict:
        """The notebook's parameters cell as the publish dialog shows it."""
        return declared_to_json(declared_parameters(notebook_from(content)))

    async def site_states(self, catalog: Catalog) -> tuple[dict, dict]:
        """(site objects, their live states) for the current catalog; never raises."""
        from ..spawner.hybrid import read_state

        sites = self.sites.sync(catalog)
        for site in sites.values():
            site.ledger = self.ledger
        states = {n: await read_state(s, self.site_timeout, self.log) for n, s in sites.items()}
        return sites, states

    async def options(self, caller: Caller) -> dict:
        """Tiers and environments this user may publish on, with placement's answer for each: the
        same decision, reasons and wording as the spawn form."""
        from ..spawner.form import public_reasons

        catalog = self.catalog()
        sites, states = await self.site_states(catalog)
        problems = environment_problems(catalog, sites)
        default_tier = default_for(catalog, "tiers", caller.groups)
        tiers = []
        for name, tier in catalog.tiers.items():
            if access_problem(catalog, "tiers", name, caller.groups):
                continue
            envs = [
                e
                for e in catalog.tier_environments(name)
                if not access_problem(catalog, "environments", e, caller.groups)
            ]
            env = default_for(catalog, "environments", caller.groups, envs)
            decision = place(catalog, Request(caller.name, caller.groups, name, env or ""), states, problems)
            tiers.append(
                {
                    "name": name,
                    "display_name": tier.display_name or name,
                    "description": tier.description,
                    "default": name == default_tier,
                    "available": decision.site is not None,
                    "site": decision.site,
                    "reasons": public_reasons(decision.reasons, states, catalog, caller.admin),
                    "environments": [
                        {
                            "name": e,
                            "display_name": catalog.environments[e].display_name or e,
                            "default": e == env,
                        }  # fmt: skip
                        for e in envs
                    ],
                }
            )
        return {"tiers": tiers}

    def _choice(self, caller: Caller, spec: JobSpec) -> JobSpec:
        """The spec with its tier and environment resolved as the spawn form resolves them."""
        try:
            choice = validate_options(
                self.catalog(), {"tier": spec.tier, "environment": spec.environment}, caller.groups
            )
        except OptionsError as e:
            raise JobError(str(e)) from None
        return spec.model_copy(update={"tier": choice.tier, "environment": choice.environment})

    def create_job(self, caller: Caller, body: object) -> dict:
        if not isinstance(body, dict):
            raise JobError(f"a job must be a JSON object, got {quote(body)}")
        fields = {k: v for k, v in body.items() if k != "content"}
        spec = self._choice(caller, parse_job(fields))
        nb, declared, values = read_version(body.get("content"), spec.parameters)
        spec = spec.model_copy(update={"parameters": values})
        owner = caller.writes(None)
        if spec.name in {j.name for j in self.jobs.list(owner)}:
            raise FileExistsError(f"you already have a job named {spec.name!r}: pick another name")
        snapshot = self._snapshot(owner, spec, 1)
        job = self.jobs.create(owner, spec, nb, declared, self.clock(), snapshot_id=snapshot)
        self.pins.pin(owner, spec.name, snapshot)
        self._wake()
        return job_view(job, version=self.jobs.version(job.id, 1))

    def publish_version(self, caller: Caller, name: str, content: object) -> dict:
        """Freeze the notebook again as version N+1; the job's parameters must still fit it."""
        job = self.jobs.get(caller.writes(None), name)
        spec = JobSpec.model_validate(job.spec)
        nb, declared, _ = read_version(content, spec.parameters)
        snapshot = self._snapshot(job.owner, spec, job.version + 1)
        number = self.jobs.publish_version(job.owner, name, nb, declared, snapshot_id=snapshot)
        self.pins.pin(job.owner, name, snapshot)
        return {"version": number, "declared": declared, "snapshot_id": snapshot}

    def _snapshot(self, owner: str, spec: JobSpec, version: int) -> str | None:
        """The job's environment captured (or recognised) now, to pin to this version."""
        env = self.catalog().environments.get(spec.environment)
        return self.pins.current(owner, env.python if env else None, f"{spec.name} (job, v{version})")

    # -- jobs ----------------------------------------------------------------------------------

    def list_jobs(self, caller: Caller, owner: str | None = None) -> dict:
        jobs = self.jobs.list(caller.lists(owner))
        last = self.jobs.last_runs([j.id for j in jobs])
        return {"jobs": [job_view(j, last.get(j.id)) for j in jobs]}

    def get_job(self, caller: Caller, name: str, owner: str | None = None) -> dict:
        job = self.jobs.get(caller.reads(owner), name)
        versions = self.jobs.versions(job.id)
        view = job_view(job, self.jobs.last_runs([job.id]).get(job.id), versions[-1] if versions else None)
        view["versions"] = [
            {"number": v.number, "created_at": v.created_at.isoformat(), "snapshot_id": v.snapshot_id}
            for v in versions
        ]
        return view

    def set_paused(self, caller: Caller, name: str, paused: object) -> dict:
        if not isinstance(paused, bool):
            raise JobError(f'"paused" must be true or false, got {quote(paused)}')
        self.jobs.set_paused(caller.writes(None), name, paused, self.clock())
        self._wake()
        return self.get_job(caller, name)

    def delete_job(self, caller: Caller, name: str, keep_runs: bool) -> None:
        """Delete a job; its active runs are cancelled; its run records and outputs are kept or
        removed as asked."""
        for run in self.jobs.runs(caller.writes(None), name, ACTIVE):
            self.cancel_run(caller, run.id)
        runs = self.jobs.delete(caller.name, name, keep_runs)
        self.pins.unpin(caller.name, name)
        if not keep_runs:
            for run in runs:
                shutil.rmtree(self.run_dir(run.id), ignore_errors=True)

    # -- runs ----------------------------------------------------------------------------------

    def run_now(self, caller: Caller, name: str, parameters: object = None) -> dict:
        """Queue a run of the newest version; `parameters` override the job's, checked first."""
        job = self.jobs.get(caller.writes(None), name)
        declared = declared_from_json(self.jobs.version(job.id, job.version).parameters)
        values = check_values(declared, parameters) if parameters else {}
        run = self.jobs.run_now(job.owner, name, values, self.clock())
        self._wake()
        return run_view(run)

    def run_again(self, caller: Caller, run_id: int) -> dict:
        """A finished run once more, with the parameters it ran with, on the newest version."""
        old = self.jobs.run(caller.writes(None), run_id)
        if old.job_id is None:
            raise JobError(f"the job of run {run_id} was deleted; publish it again to run it")
        job = self.jobs.job_by_id(old.job_id)
        return self.run_now(caller, job.name, old.parameters)

    def list_runs(self, caller: Caller, name: str | None = None, owner: str | None = None) -> dict:
        who = caller.reads(owner) if name is not None else caller.lists(owner)
        if name is not None:
            self.jobs.get(who, name)  # 404 for a job that is not there
        return {"runs": self._views(self.jobs.runs(who, name))}

    def _views(self, runs: list) -> list[dict]:
        """Runs as shown, each with `drift`: whether it ran with another environment than the one
        its version was published with."""
        pinned: dict[tuple, str | None] = {}
        for job_id in {r.job_id for r in runs if r.job_id is not None}:
            pinned.update({(job_id, v.number): v.snapshot_id for v in self.jobs.versions(job_id)})
        return [run_view(r, pinned.get((r.job_id, r.version))) for r in runs]

    def _run(self, caller: Caller, run_id: int):
        return self.jobs.run(None if caller.admin else caller.name, run_id)

    def get_run(self, caller: Caller, run_id: int) -> dict:
        return self._views([self._run(caller, run_id)])[0]

    def cancel_run(self, caller: Caller, run_id: int) -> dict:
        run = self.jobs.run(caller.writes(None), run_id)
        if run.status not in ACTIVE:
            raise JobError(f"run {run_id} already ended ({run.status}); nothing to cancel")
        error = {
            "ename": "Cancelled",
            "evalue": "",
            "traceback": "",
            "message": f"cancelled by {caller.name}",
        }
        ended = self.jobs.finish(run.id, "cancelled", self.clock(), error=error)
        if ended is not None and run.status == "running" and self.scheduler is not None:
            self.scheduler.stop_process(ended)
        return run_view(ended or self.jobs.run(None, run_id))

    def run_log(self, caller: Caller, run_id: int, offset: int = 0) -> dict:
        """The run's live log from byte `offset`: events, the same as text, and where to go on."""
        run = self._run(caller, run_id)
        events, offset = read_events(self.run_dir(run.id) / EVENTS, max(0, offset))
        return {
            "events": events,
            "text": "".join(render(e) for e in events),
            "offset": offset,
            "status": run.status,
            "done": run.status not in ACTIVE,
        }

    def output_path(self, caller: Caller, run_id: int) -> tuple[dict, Path]:
        run = self._run(caller, run_id)
        path = Path(run.output) if run.output else None
        if path is None or not path.is_file():
            why = "it has not started" if run.status == "queued" else "it kept no output notebook"
            raise FileNotFoundError(f"run {run_id} has no output: {why}")
        return run_view(run), path
