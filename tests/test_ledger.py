"""The allocation ledger (store/ledger.py) on SQLite and a real PostgreSQL: processes holding GPUs at
once never share one, a job run's GPU is taken for the hub's site and the reverse, the CapacityError
names who holds the rest, holds are idempotent, and sites without device indices record counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.gpu.devices import GpuDevice
from jupyter_hybrid.sites import CapacityError, LocalSite
from jupyter_hybrid.sites.base import Allocation, BaseSite
from jupyter_hybrid.store import Ledger, make_engine

A100 = "NVIDIA A100-SXM4-80GB"
CATALOG = parse_catalog(
    {
        "sites": {"local": {"max_cpu": 1, "overcommit": {"cpu": 100, "memory": 100}}},
        "tiers": {
            "small": {"cpu": 0.5, "memory": "1M"},
            "a100": {"cpu": 0.5, "memory": "1M", "gpu": 1, "gpu_model": "A100"},
            "two-a100": {"cpu": 0.5, "memory": "1M", "gpu": 2, "gpu_model": "A100"},
            "h100": {"cpu": 0.5, "memory": "1M", "gpu": 1, "gpu_model": "H100"},
        },
    }
)


def devices(n: int, model: str = A100) -> list[GpuDevice]:
    return [GpuDevice(i, f"GPU-{i}", model, 80 * 1024**3) for i in range(n)]


def local_site(ledger: Ledger | None, n: int = 2) -> LocalSite:
    site = LocalSite("local", CATALOG.sites["local"])
    site._gpus = lambda: (devices(n), None)  # as tests/test_local_site.py fakes devices
    site.ledger = ledger
    return site


@pytest.fixture
def ledger(db_url):
    engine = make_engine(db_url)
    yield Ledger(engine)
    engine.dispose()


# One process of the hub or the control plane: a LocalSite on the shared store holds GPUs for
# `kind` workloads, starting at the same wall-clock time as its siblings; prints what it got.
WORKER = """
import json, sys, time
from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.gpu.devices import GpuDevice
from jupyter_hybrid.sites import CapacityError, LocalSite
from jupyter_hybrid.store import Ledger, make_engine

url, kind, prefix, count, n_gpus, start_at = sys.argv[1:7]
catalog = parse_catalog({
    "sites": {"local": {"max_cpu": 1, "overcommit": {"cpu": 100, "memory": 100}}},
    "tiers": {"a100": {"cpu": 0.5, "memory": "1M", "gpu": 1, "gpu_model": "A100"}},
})
engine = make_engine(url)
site = LocalSite("local", catalog.sites["local"])
gpus = [GpuDevice(i, f"GPU-{i}", "NVIDIA A100-SXM4-80GB", 1) for i in range(int(n_gpus))]
site._gpus = lambda: (gpus, None)
site.ledger = Ledger(engine)
site.state()  # devices read and the store open before the start line
time.sleep(max(0.0, float(start_at) - time.time()))
out = []
for i in range(int(count)):
    try:
        out.append(site.hold(f"{prefix}{i}", catalog.tiers["a100"], kind=kind, owner=prefix).gpus)
    except CapacityError as e:
        out.append(str(e))
print(json.dumps(out))
engine.dispose()
"""


def workers(url: str, jobs: list[tuple[str, str, int]], n_gpus: int, delay: float = 3.0) -> list[list]:
    """Run one process per (kind, prefix, count) at once; what each one held (or its error)."""
    start_at = str(time.time() + delay)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, kind, prefix, str(count), str(n_gpus), start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, prefix, count in jobs
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err[-2000:] for _, err in results]
    return [json.loads(out) for out, _ in results]


def test_processes_holding_at_once_never_get_the_same_gpu(db_url, ledger):
    # two hub-like and two service-like processes, 3 holds each, for 8 GPUs: 8 held, 4 refused
    jobs = [("server", "hub-a:", 3), ("run", "svc-a:", 3), ("server", "hub-b:", 3), ("run", "svc-b:", 3)]
    results = workers(db_url, jobs, 8)
    held = [g for out in results for g in out if isinstance(g, list)]
    refused = [g for out in results for g in out if isinstance(g, str)]
    assert sorted(i for g in held for i in g) == list(range(8))  # each GPU once
    assert len(refused) == 4
    for message in refused:
        assert message.startswith("needs 1 A100 GPU; local: 0 free (")
    rows = ledger.held("local")
    assert len(rows) == 8 and sorted(i for r in rows for i in r.gpus) == list(range(8))
    with pytest.raises(CapacityError) as e:
        local_site(ledger, 8).hold("last", CATALOG.tiers["a100"], kind="server", owner="x")
    servers, runs = (sum(r.kind == k for r in rows) for k in ("server", "run"))
    holders = ", ".join(
        f"{n} held by {word}"
        for n, word in (
            (servers, "a server" if servers == 1 else "servers"),
            (runs, "a job run" if runs == 1 else "job runs"),
        )
        if n
    )
    assert str(e.value) == f"needs 1 A100 GPU; local: 0 free ({holders})"


def test_a_runs_gpu_is_taken_for_the_hubs_site_and_the_reverse(db_url, ledger):
    # the control plane (another process) holds GPU 0 for a run; its row outlives that process
    assert workers(db_url, [("run", "run:", 1)], 2, delay=0) == [[[0]]]
    hub = local_site(ledger)
    state = hub.state()
    assert state.gpus_free == {A100: 1} and state.gpus_total == {A100: 2}
    assert state.cpu_reserved == 0.5  # the run's cores count on the hub's side too
    server = hub.hold("alice/", CATALOG.tiers["a100"], kind="server", owner="alice", tier_name="a100")
    assert server.gpus == [1]
    with pytest.raises(
        CapacityError, match=r"^needs 1 A100 GPU; local: 0 free \(1 held by a server, 1 held by a job run\)$"
    ):
        hub.hold("bob/", CATALOG.tiers["a100"], kind="server", owner="bob")
    assert "bob/" not in hub.allocations and ledger.get("server", "bob/") is None

    # and the reverse: the service's next run finds the server's GPU taken
    (second,) = workers(db_url, [("run", "more:", 1)], 2, delay=0)
    assert second == ["needs 1 A100 GPU; local: 0 free (1 held by a server, 1 held by a job run)"]
    hub.release("alice/")
    assert workers(db_url, [("run", "more:", 1)], 2, delay=0) == [[[1]]]
    assert hub.state().gpus_free == {A100: 0}


def test_capacity_error_counts_only_the_devices_that_serve_the_tier(ledger):
    site = local_site(ledger, 3)
    site.hold("run:7", CATALOG.tiers["a100"], kind="run", owner="carol")
    site.hold("run:8", CATALOG.tiers["a100"], kind="run", owner="carol")
    with pytest.raises(CapacityError) as e:
        site.hold("dave/", CATALOG.tiers["two-a100"], kind="server", owner="dave")
    assert str(e.value) == "needs 2 A100 GPUs; local: 1 free (2 held by job runs)"
    with pytest.raises(CapacityError, match=r"^needs 1 H100 GPU; local: 0 free$"):
        site.hold("erin/", CATALOG.tiers["h100"], kind="server", owner="erin")
    no_driver = local_site(ledger)
    no_driver._gpus = lambda: ([], "no NVIDIA driver")
    with pytest.raises(CapacityError, match=r"^needs 1 A100 GPU; local: no NVIDIA driver$"):
        no_driver.hold("erin/", CATALOG.tiers["a100"], kind="server", owner="erin")
    assert [r.ref for r in ledger.held()] == ["run:7", "run:8"]


def test_holding_again_replaces_the_row_and_release_forgets_it(ledger):
    site = local_site(ledger, 4)
    site.hold("run:1", CATALOG.tiers["a100"], kind="run", owner="alice")  # GPU 0
    first = ledger.hold(
        "server", "alice/", "alice", "local", "a100", 1, 2**30, 1, "A100", [(1, A100), (2, A100)]
    )
    again = ledger.hold(
        "server", "alice/", "alice", "local", "a100", 1, 2**30, 1, "A100", [(1, A100), (2, A100)]
    )
    assert first.gpus == again.gpus == [1]  # its own row does not count as taken
    assert [(r.kind, r.ref) for r in ledger.held()] == [("run", "run:1"), ("server", "alice/")]
    # a restarted process holds it again with other numbers: still one row, now on another site
    moved = ledger.hold(
        "server",
        "alice/",
        "alice",
        "other",
        "two",
        2,
        1,
        2,
        None,
        [(0, A100), (1, A100)],
        groups=["ml", "ml"],
    )
    assert (moved.site, moved.gpus, moved.groups, moved.cpu) == ("other", [0, 1], ["ml"], 2.0)
    assert len(ledger.held(kind="server")) == 1 and ledger.held("local", kind="server") == []
    assert ledger.release("server", "alice/") is True
    assert ledger.release("server", "alice/") is False
    assert [r.ref for r in ledger.held()] == ["run:1"]
    with pytest.raises(ValueError, match="kind must be one of server, run, deployment"):
        ledger.hold("job", "x", "alice", "local", "a100", 1, 1, 0, None, [])


def test_a_check_that_raises_holds_nothing(ledger):
    seen = []

    def check(others):
        seen.append([(a.user, a.gpu_count) for a in others])
        raise RuntimeError("quota changed")

    ledger.hold("run", "run:1", "alice", "cloud", "a100", 1, 1, 1, None, None)
    with pytest.raises(RuntimeError, match="quota changed"):
        ledger.hold("server", "alice/", "alice", "local", "a100", 1, 1, 1, "A100", [(0, A100)], check=check)
    assert seen == [[("alice", 1)]]  # every other workload, on every site
    assert [r.ref for r in ledger.held()] == ["run:1"]


def test_restore_writes_the_same_devices_again_whoever_the_ledger_says_holds_them(ledger):
    site = local_site(ledger)
    held = site.hold("alice/", CATALOG.tiers["a100"], kind="server", owner="alice", tier_name="a100")
    saved = Allocation(**held.to_dict())

    after = local_site(ledger)  # a new hub process: the row is still there, restore is idempotent
    after.restore("alice/", saved, kind="server", tier_name="a100")
    rows = ledger.held()
    assert [(r.kind, r.ref, r.gpus, r.owner, r.tier) for r in rows] == [
        ("server", "alice/", [0], "alice", "a100")
    ]

    ledger.release("server", "alice/")  # the row was lost and a run took GPU 0 meanwhile
    ledger.hold("run", "run:3", "bob", "local", "a100", 1, 1, 1, "A100", [(0, A100), (1, A100)])
    after.restore("alice/", saved, kind="server", tier_name="a100")
    assert ledger.get("server", "alice/").gpus == [0]  # the server does use GPU 0: recorded as it is
    after.release("alice/")
    assert ledger.get("server", "alice/") is None and "alice/" not in after.allocations


class ClusterSite(BaseSite):
    """A site that assigns devices itself (as Kubernetes does): the ledger records counts."""

    kind = "cluster"

    def state(self):
        raise NotImplementedError

    def environment_problem(self, env):
        return None

    def reserve(self, key, tier):
        self.allocations[key] = Allocation(
            cpu=tier.cpu_request, memory=tier.memory_request, gpu_count=tier.gpu
        )
        return self.allocations[key]

    def server_spawner(self, *args, **kwargs):
        raise NotImplementedError


def test_sites_that_assign_devices_record_counts_for_quotas(ledger):
    site = ClusterSite("cloud", CATALOG.sites["local"])
    site.ledger = ledger
    site.hold(
        "alice/", CATALOG.tiers["two-a100"], kind="server", owner="alice", groups={"ml"}, tier_name="two"
    )
    (row,) = ledger.held()
    assert (row.site, row.gpu_count, row.gpus, row.groups, row.gpu_model) == ("cloud", 2, [], ["ml"], "A100")
    usage = ledger.usage("alice")
    assert (usage.user_gpus, usage.user_cpu, dict(usage.group_gpus)) == (2, 0.5, {"ml": 2})
    assert ledger.usage("alice", exclude=("server", "alice/")).user_gpus == 0
    site.release("alice/")
    assert ledger.held() == [] and site.allocations == {}


def test_without_a_ledger_a_local_site_counts_its_own_holds_only(ledger):
    ledger.hold("run", "run:1", "bob", "local", "a100", 1, 1, 1, "A100", [(0, A100)])
    alone = local_site(None)
    assert alone.state().gpus_free == {A100: 2}  # the store is not read
    assert alone.hold("alice/", CATALOG.tiers["a100"], owner="alice").gpus == [0]
    with pytest.raises(CapacityError, match=r"^needs 2 A100 GPUs; local: 1 free \(1 held by a server\)$"):
        alone.hold("carol/", CATALOG.tiers["two-a100"])
    assert len(ledger.held()) == 1
