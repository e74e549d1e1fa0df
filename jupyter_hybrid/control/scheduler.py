"""The scheduler: turns due times into queued runs, starts queued runs within the limits, watches
them to their end, retries and notifies. One asyncio task per control plane.

Safe with several control planes on one store (see store/jobs.py: due times are queued exactly
once, claims hold leases). A run's record is written before its process starts and its process is
found again from its stored handle, so `kill -9` of the control plane loses nothing: after a
restart it adopts its own runs at once and other replicas' once their lease ran out; a run whose
process ended meanwhile is read from its result file (completed with output) or ends "interrupted",
and is retried if its policy says so.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta

import nbformat

from ..catalog import Catalog
from ..jobs.execute import INPUT
from ..jobs.model import JobSpec
from ..jobs.parameters import inject
from ..placement import Request, environment_problems, place
from ..sites import CapacityError, localrun
from ..store.job_tables import Run
from .plane import ControlPlane

HOST = socket.gethostname()


def _error(message: str, ename: str = "") -> dict:
    return {"ename": ename, "evalue": "", "traceback": "", "message": message}


class Scheduler:
    """Runs `plane`'s queue. `global_limit`: runs at once over all jobs; `lease`: seconds a claim
    lasts without renewal; `poll`: most seconds between looks at the store; `start_ahead`: seconds
    before its due time a scheduled run starts its kernel (its first cell waits for the due time)."""

    def __init__(
        self,
        plane: ControlPlane,
        *,
        global_limit: int = 4,
        lease: float = 30.0,
        poll: float = 1.0,
        wait_recheck: float = 10.0,
        start_ahead: float = 5.0,
        ledger=None,
    ):
        self.plane, self.store, self.log = plane, plane.jobs, plane.log
        self.global_limit, self.lease, self.poll = global_limit, lease, poll
        self.wait_recheck, self.start_ahead = wait_recheck, start_ahead
        self.ledger = ledger
        self._wakeup = asyncio.Event()
        self._tasks: dict[int, asyncio.Task] = {}
        self._main: asyncio.Task | None = None
        self._stopping = False
        plane.scheduler = self

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._main is not None

    def start(self) -> None:
        self._main = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop scheduling; runs in flight keep running (their processes are their own) and are
        adopted by the next start, as after a crash."""
        self._stopping = True
        self._wakeup.set()
        tasks = [t for t in (self._main, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        try:
            asyncio.get_running_loop().call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # called from a worker thread: the loop is the main task's
            if self._main is not None:
                self._main.get_loop().call_soon_threadsafe(self._wakeup.set)

    async def _loop(self) -> None:
        mine = await asyncio.to_thread(self.store.adopt, self.plane.name, self.plane.clock(), self.lease)
        await self._take_over(mine)
        last_renew = last_orphans = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self.tick()
                if loop.time() - last_renew > self.lease / 3:
                    last_renew = loop.time()
                    await asyncio.to_thread(self.store.renew, self.plane.name, self.plane.clock(), self.lease)
                if loop.time() - last_orphans > self.lease / 2:
                    last_orphans = loop.time()
                    taken = await asyncio.to_thread(
                        self.store.orphaned, self.plane.name, self.plane.clock(), self.lease
                    )
                    await self._take_over(taken)
            except Exception:  # a store hiccup must not end scheduling: log, look again soon
                self.log.exception("jupyter-hybrid scheduler: a pass failed; retrying")
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.poll)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """One pass: queue what is due, start what the limits allow."""
        now = self.plane.clock()
        await asyncio.to_thread(self.store.enqueue_due, now, 500, self.start_ahead)
        claimed = await asyncio.to_thread(
            self.store.claim, self.plane.name, now, self.lease, self.global_limit, self.global_limit
        )
        for run in claimed:
            self._tasks[run.id] = asyncio.ensure_future(self._guarded(run.id, self._execute(run)))

    async def _guarded(self, run_id: int, work) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as e:  # our own bug: the run ends failed with it, never stays running
            self.log.exception("jupyter-hybrid scheduler: run %s failed in the control plane", run_id)
            await self._end(run_id, "failed", error=_error(f"control plane error: {e}", type(e).__name__))
        finally:
            self._tasks.pop(run_id, None)
            self._wakeup.set()  # a slot is free

    # -- one run -------------------------------------------------------------------------------

    async def _execute(self, run: Run) -> None:
        catalog: Catalog = self.plane.catalog()
        problem = self._missing(catalog, run)
        if problem:
            await self._end(run.id, "failed", error=_error(problem))
            return
        tier = catalog.tiers[run.tier]
        sites, states = await self.plane.site_states(catalog)
        # access was checked at publish, as the owner's hub groups were then: the run keeps it
        groups = frozenset(tier.groups) | frozenset(catalog.environments[run.environment].groups)
        key = f"run:{run.id}"
        usage = await asyncio.to_thread(self.plane.ledger.usage, run.owner, None, ("run", key))
        request = Request(run.owner, groups, run.tier, run.environment, usage=usage)
        problems = environment_problems(catalog, sites)
        decision = await asyncio.to_thread(place, catalog, request, states, problems)
        if decision.site is None:
            await self._wait(run, "; ".join(decision.reasons))
            return
        site = sites[decision.site]
        if site.kind != "local":
            why = f"{decision.site} is a {site.kind} site; job runs run on local sites in this release"
            await self._end(run.id, "failed", error=_error(why), site=decision.site)
            return
        try:
            allocation = site.hold(key, tier, kind="run", owner=run.owner, tier_name=run.tier)
        except CapacityError as e:
            await self._wait(run, str(e))
            return
        try:
            await self._launch(run, catalog, tier, decision.site, allocation)
        except asyncio.CancelledError:
            raise  # the control plane stops; the process keeps its GPUs until it is adopted again
        except BaseException:
            site.release(key, kind="run")
            raise
        site.release(key, kind="run")

    def _missing(self, catalog: Catalog, run: Run) -> str | None:
        if run.tier not in catalog.tiers:
            return f"tier {run.tier!r} is no longer in the catalog; publish the job with another tier"
        if run.environment not in catalog.environments:
            return f"environment {run.environment!r} is no longer in the catalog; publish the job again"
        return None

    async def _wait(self, run: Run, why: str) -> None:
        not_before = self.plane.clock() + timedelta(seconds=self.wait_recheck)
        await asyncio.to_thread(self.store.requeue, run.id, f"waiting: {why}", not_before)

    async def _launch(self, run: Run, catalog: Catalog, tier, site: str, allocation) -> None:
        version = await asyncio.to_thread(self.store.version, run.job_id, run.version)
        run_dir = self.plane.run_dir(run.id)
        env = catalog.environments[run.environment]

        def prepare():
            run_dir.mkdir(parents=True, exist_ok=True)
            nb = inject(nbformat.from_dict(version.notebook), run.parameters)
            nbformat.write(nb, run_dir / INPUT)  # stored before execution, as it will run
            kernel, extra = localrun.kernel_for(run_dir, env.python)
            extra.update(localrun.limits_env(tier.cpu_limit, tier.memory_limit, allocation.gpus))
            extra.update(
                JUPYTER_HYBRID_RUN_ID=str(run.id),
                JUPYTER_HYBRID_JOB=run.job_name,
                JUPYTER_HYBRID_TIER=run.tier,
                JUPYTER_HYBRID_ENVIRONMENT=run.environment,
                JUPYTER_HYBRID_SITE=site,
            )
            # the plane's clock says how far off the due time is (tests drive that clock)
            early = (run.due_at - self.plane.clock()).total_seconds() if run.due_at else 0.0
            start_at = time.time() + early if early > 0 else None
            handle = localrun.submit(run_dir, kernel, extra, start_at)
            # what it runs with, known after it started: a first capture takes a second
            return handle, self.plane.pins.current(run.owner, env.python, f"{run.job_name} (job run)")

        handle, snapshot = await asyncio.to_thread(prepare)
        ran = await asyncio.to_thread(
            self.store.update,
            run.id,
            handle=handle.to_json(),
            host=HOST,
            site=site,
            waiting=None,
            snapshot_id=snapshot,
        )
        if ran.status != "running":  # cancelled while it was being prepared
            await asyncio.to_thread(localrun.cancel, handle)
            return
        await self._watch(run.id, handle)

    async def _watch(self, run_id: int, handle: localrun.RunHandle) -> None:
        run = await asyncio.to_thread(self.store.run, None, run_id)
        job = await asyncio.to_thread(self.store.job_by_id, run.job_id)
        timeout = JobSpec.model_validate(job.spec).timeout if job else None
        outcome = await localrun.wait(handle, timeout)
        await self._record(run_id, outcome)

    async def _record(self, run_id: int, outcome: localrun.Outcome) -> None:
        await self._end(run_id, outcome.status, error=outcome.error, output=outcome.output)

    async def _end(self, run_id: int, status: str, **fields) -> None:
        ended = await asyncio.to_thread(self.store.finish, run_id, status, self.plane.clock(), **fields)
        if ended is None:
            return  # cancelled meanwhile, or ended by another replica
        # what it held is free again (also for a run adopted after a restart)
        await asyncio.to_thread(self.plane.ledger.release, "run", f"run:{run_id}")
        job = await asyncio.to_thread(self.store.job_by_id, ended.job_id)
        spec = JobSpec.model_validate(job.spec) if job else None
        if status == "failed" and spec is not None and ended.attempt <= spec.retry.attempts:
            delay = spec.retry.delay(ended.attempt)
            await asyncio.to_thread(self.store.retry, ended, self.plane.clock(), delay)
            self.log.info(
                "Run %s of %s failed; retry %s in %g s", run_id, ended.job_name, ended.attempt, delay
            )
        wanted = {"completed": "success", "failed": "failure"}.get(status)
        if spec is not None and spec.webhook and wanted in spec.notify_on:
            await self._notify(spec, job, ended)

    async def _notify(self, spec: JobSpec, job, run: Run) -> None:
        from ..jobs import notify
        from .views import job_view, run_view

        event = "run.completed" if run.status == "completed" else "run.failed"
        payload = notify.payload(run_view(run), job_view(job), event)
        await notify.send(spec.webhook, payload, log=self.log)

    # -- after a restart -----------------------------------------------------------------------

    async def _take_over(self, runs: list[Run]) -> None:
        """Runs whose control plane stopped: watch those still running, record the others."""
        for run in runs:
            if run.id in self._tasks:
                continue
            if not run.handle or run.host not in (None, HOST):
                where = f" on {run.host}" if run.host else " before its process started"
                message = f"interrupted: its control plane stopped{where}"
                await self._end(run.id, "failed", error=_error(message, "Interrupted"))
                continue
            handle = localrun.RunHandle(**run.handle)
            found = await asyncio.to_thread(localrun.reconcile, handle)
            if found is None:
                self.log.info("Run %s is still running: watching it again", run.id)
                watch = self._guarded(run.id, self._watch(run.id, handle))
                self._tasks[run.id] = asyncio.ensure_future(watch)
            else:
                await self._record(run.id, found)

    def stop_process(self, run: Run) -> None:
        """Stop a cancelled run's process tree (when it runs on this host)."""
        if run.handle and run.host in (None, HOST):
            handle = localrun.RunHandle(**run.handle)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                localrun.cancel(handle)
            else:
                loop.run_in_executor(None, localrun.cancel, handle)
