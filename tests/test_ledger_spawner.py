"""HybridSpawner on the allocation ledger (SQLite and PostgreSQL): servers are recorded as kind
"server" and released on stop, a hub restart holds them again, and quotas count job runs held by
another process (the control plane), even one that holds between the decision and the hold."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from tornado import web
from traitlets.config import Config

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.gpu.devices import GpuDevice
from jupyter_hybrid.sites import LocalSite
from jupyter_hybrid.spawner import hybrid
from jupyter_hybrid.spawner.hybrid import REGISTRY, HybridSpawner
from jupyter_hybrid.store import Ledger, make_engine

A100 = "NVIDIA A100-SXM4-80GB"
OVER = {"cpu": 100, "memory": 100}
CATALOG = {
    "sites": {"local": {"max_cpu": 1, "overcommit": OVER}},
    "tiers": {
        "cpu": {"cpu": 0.5, "memory": "1M", "default": True},
        "gpu": {"cpu": 0.5, "memory": "1M", "gpu": 1, "gpu_model": "A100"},
    },
    "environments": {"default": {"default": True}},
    "quotas": {"per_user": {"gpus": 1}, "per_group": {"ml": {"gpus": 2}}},
}


class FakeChild:
    """The site's own spawner, without a process: what HybridSpawner calls on it."""

    pid = 0

    def __init__(self):
        self.status = None

    async def start(self):
        return ("127.0.0.1", 9)

    async def poll(self):
        return self.status

    async def stop(self, now=False):
        self.status = 0

    def get_state(self):
        return {"fake": True}

    def load_state(self, state):
        assert state == {"fake": True}


class FakeGpuSite(LocalSite):
    """This machine with two A100s; servers start no process."""

    def _gpus(self):
        return [GpuDevice(i, f"GPU-{i}", A100, 80 * 1024**3) for i in range(2)], None

    def server_spawner(self, parent, tier, env, names, allocation, datasets=None, overrides=None):
        return FakeChild()


@pytest.fixture
def hub(tmp_path, db_url):
    """A catalog file, the hub's site registry with a FakeGpuSite, and the store's URL."""
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(CATALOG))
    saved = dict(REGISTRY.sites)
    REGISTRY.sites.clear()
    fresh_site()
    yield SimpleNamespace(catalog=path, url=db_url)
    REGISTRY.sites.clear()
    REGISTRY.sites.update(saved)
    ledger = hybrid._LEDGERS.pop(db_url, None)
    if ledger is not None:
        ledger.engine.dispose()


def fresh_site():
    """A new hub process's site object: it remembers nothing (the ledger does)."""
    REGISTRY.sites["local"] = FakeGpuSite("local", parse_catalog(CATALOG).sites["local"])
    return REGISTRY.sites["local"]


def spawner(hub, user, groups=(), server="", store_url=None) -> HybridSpawner:
    owner = SimpleNamespace(
        name=user, groups=[SimpleNamespace(name=g) for g in groups], url=f"/user/{user}/", escaped_name=user
    )
    orm = SimpleNamespace(name=server, user_options=None, server=None)
    settings = {"catalog_file": str(hub.catalog), "store_url": hub.url if store_url is None else store_url}
    sp = HybridSpawner(user=owner, orm_spawner=orm, config=Config({"HybridSpawner": settings}))
    sp.user_options = {"tier": "gpu"}
    return sp


def refused(coro) -> str:
    with pytest.raises(web.HTTPError) as e:
        asyncio.run(coro)
    assert e.value.status_code == 400
    return e.value.log_message


# the control plane: another process that holds (or releases) a job run's GPU in the same store
SERVICE = """
import sys
from jupyter_hybrid.store import Ledger, make_engine
url, action, ref, owner, groups = sys.argv[1:6]
engine = make_engine(url)
ledger = Ledger(engine)
if action == "hold":
    devices = [(0, "NVIDIA A100-SXM4-80GB"), (1, "NVIDIA A100-SXM4-80GB")]
    groups = groups.split(",")
    held = ledger.hold("run", ref, owner, "local", "gpu", 0.5, 2**20, 1, "A100", devices, groups=groups)
    print(held.gpus[0])
else:
    print(ledger.release("run", ref))
engine.dispose()
"""


def service(hub, action: str, ref: str, owner: str = "", groups: str = "") -> str:
    out = subprocess.run(
        [sys.executable, "-c", SERVICE, hub.url, action, ref, owner, groups], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_servers_are_recorded_and_released_on_stop(hub):
    alice = spawner(hub, "alice", ["ml"])
    asyncio.run(alice.start())
    ledger = alice.ledger
    (row,) = ledger.held()
    assert (row.kind, row.ref, row.owner, row.site, row.tier) == ("server", "alice/", "alice", "local", "gpu")
    assert (row.gpus, row.gpu_count, row.groups, row.cpu) == ([0], 1, ["ml"], 0.5)
    assert alice.allocation.gpus == [0]
    asyncio.run(alice.stop())
    assert ledger.held() == []

    # a server that ends by itself is released when the hub polls it
    asyncio.run(alice.start())
    assert len(ledger.held()) == 1
    alice.child.status = 1
    assert asyncio.run(alice.poll()) == 1
    assert ledger.held() == []


def test_a_hub_restart_holds_its_servers_again(hub):
    alice = spawner(hub, "alice", ["ml"], server="first")
    asyncio.run(alice.start())
    state = alice.get_state()
    before = alice.ledger.held()

    fresh_site()  # a new hub process; the store still has the row
    restored = spawner(hub, "alice", ["ml"], server="first")
    restored.load_state(state)
    assert restored.ledger.held() == before  # one row, the same GPU: idempotent

    # the store lost the row meanwhile (an admin cleared it): load_state writes it again
    restored.ledger.release("server", "alice/first")
    fresh_site()
    again = spawner(hub, "alice", ["ml"], server="first")
    again.load_state(state)
    assert [(r.ref, r.gpus) for r in again.ledger.held()] == [("alice/first", [0])]
    # and the restored server counts: bob's server gets the other GPU, alice is at her quota
    bob = spawner(hub, "bob")
    asyncio.run(bob.start())
    assert bob.allocation.gpus == [1]
    second = spawner(hub, "alice", ["ml"], server="second")
    assert "quota: you use 1 of 1 GPUs" in refused(second.resolve({"tier": "gpu"}))
    again.clear_state()
    assert [r.ref for r in again.ledger.held()] == ["bob/"]


def test_a_gpu_held_by_a_job_run_counts_against_the_users_quota(hub):
    assert service(hub, "hold", "run:1", "alice", "ml") == "0"
    alice = spawner(hub, "alice", ["ml"])
    assert "quota: you use 1 of 1 GPUs; this tier needs 1" in refused(alice.resolve({"tier": "gpu"}))
    assert "quota: you use 1 of 1 GPUs" in refused(alice.start())
    assert asyncio.run(alice.resolve({"tier": "cpu"})).site == "local"  # CPU tiers still start
    # the group quota counts the run too: dave (ml) is refused once bob's ml run holds the second GPU
    assert service(hub, "hold", "run:2", "bob", "ml") == "1"
    dave = spawner(hub, "dave", ["ml"])
    assert "quota: group ml uses 2 of 2 GPUs" in refused(dave.resolve({"tier": "gpu"}))

    # without the ledger (store_url ""), this hub would not see the runs at all
    blind = spawner(hub, "alice", ["ml"], store_url="")
    assert blind.usage().user_gpus == 0

    assert service(hub, "release", "run:1") == "True"
    assert service(hub, "release", "run:2") == "True"
    alice.user_options = {"tier": "gpu"}  # the refusal put her last options back (none)
    asyncio.run(alice.start())
    assert alice.allocation.gpus == [0]


def test_a_run_held_between_the_decision_and_the_hold_is_counted(hub, monkeypatch):
    alice = spawner(hub, "alice", ["ml"])
    asyncio.run(alice._apply_user_options(alice, alice.user_options))  # decided: alice holds nothing
    real = HybridSpawner._taken_meanwhile
    calls = []

    def meanwhile(self, resolution):
        # the control plane holds alice's run after this hub's own last check, before its hold
        if not calls:
            assert service(hub, "hold", "run:9", "alice", "ml") == "0"
            calls.append(1)
            return False
        return real(self, resolution)

    monkeypatch.setattr(HybridSpawner, "_taken_meanwhile", meanwhile)
    assert "quota: you use 1 of 1 GPUs" in refused(alice.start())
    assert [(r.kind, r.ref) for r in alice.ledger.held()] == [("run", "run:9")]


def test_the_default_store_is_the_server_extensions(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", url)
    sp = HybridSpawner(user=SimpleNamespace(name="alice", groups=[]), config=Config())
    assert sp.store_url == url
    trait = HybridSpawner.class_traits()["store_url"]
    assert trait.metadata.get("config") and "JUPYTER_HYBRID_DB_URL" in trait.help


def test_the_demo_hub_shares_one_store_with_the_service(tmp_path, monkeypatch):
    """hub_config: STORE_URL (a file in the state dir) is the spawner's store_url."""
    config = Config()
    path = Path(__file__).parent.parent / "hub_config" / "jupyterhub_config.py"
    namespace = {"get_config": lambda: config, "__file__": str(path)}
    monkeypatch.delenv("JUPYTER_HYBRID_DB_URL", raising=False)
    monkeypatch.setenv("JUPYTER_HYBRID_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("JUPYTER_HYBRID_DEMO_PASSWORD", "x" * 12)
    for var in ("PORT", "HUB_PORT", "PROXY_API_PORT"):
        monkeypatch.setenv(f"JUPYTER_HYBRID_{var}", str(free_port()))
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    expected = f"sqlite:///{(tmp_path / 'state').resolve() / 'hybrid.sqlite'}"
    assert namespace["STORE_URL"] == expected == config.HybridSpawner.store_url
    engine = make_engine(expected)  # a usable store
    try:
        assert Ledger(engine).held() == []
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
