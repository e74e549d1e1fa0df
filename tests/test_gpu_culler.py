"""Idle-GPU culler: the pure decisions, its arguments, and its server side against a real
jupyter-server (history read and warning posted over HTTP with a token)."""

from __future__ import annotations

import asyncio
import json

import pytest

from jupyter_hybrid.catalog import load_catalog
from jupyter_hybrid.gpu.sampler import GpuSampler
from jupyter_hybrid.service.gpu_culler import Culler, parse_args
from jupyter_hybrid.service.idle import Policy, decide, gpu_tier, observe, servers

from .gputools import FakeGPU, FakeNVML
from .hubtools import ROOT

MIN = 60.0
POLICY = Policy(threshold=10, idle_seconds=30 * MIN, warn_seconds=10 * MIN)
T0 = 1_700_000_000.0


def util(*points):
    """{gpu: {"utilization": [[t, v]...]}} with t in minutes after T0."""
    return {"0": {"utilization": [[T0 + m * MIN, v] for m, v in points]}}


def run(watch, points, now_min):
    now = T0 + now_min * MIN
    watch = observe(watch, util(*points), now, POLICY.threshold)
    return watch, decide(watch, now, POLICY)


def test_idle_server_is_warned_then_stopped():
    watch, d = run(None, [(0, 50), (1, 3)], 1)
    assert d.action == "keep" and watch.last_busy == T0
    watch, d = run(watch, [(m, 2) for m in range(2, 21)], 20)
    assert d.action == "warn" and "20.0 min under 10%" in d.reason and "peak 3%" in d.reason
    watch.warned_at = T0 + 20 * MIN
    watch, d = run(watch, [(25, 1)], 25)
    assert d.action == "wait"
    watch, d = run(watch, [(30, 1)], 30)
    assert d.action == "stop" and "warned 10.0 min ago" in d.reason


def test_busy_again_cancels_the_warning():
    watch, d = run(None, [(0, 1)], 20)
    assert d.action == "warn"
    watch.warned_at = T0 + 20 * MIN
    watch, d = run(watch, [(22, 95)], 22)
    assert d.action == "keep" and watch.warned_at is None
    watch, d = run(watch, [(40, 1)], 40)
    assert d.action == "keep", "idle for 18 min since the last busy sample"


def test_a_late_culler_still_gives_the_full_warning():
    # first look at a server idle for 40 minutes: warn now, stop only warn_seconds later
    watch, d = run(None, [(-40, 1), (0, 1)], 0)
    assert d.action == "warn" and d.idle_seconds == 40 * MIN
    watch.warned_at = T0
    assert run(watch, [], 5)[1].action == "wait"
    assert run(watch, [], 10)[1].action == "stop"


def test_only_gpu_tiers_and_ready_servers():
    catalog = load_catalog(ROOT / "hub_config" / "catalog.yaml")
    assert gpu_tier(catalog, {"tier": "gpu-1"}) == "gpu-1"
    assert gpu_tier(catalog, {"tier": "medium"}) is None
    assert gpu_tier(catalog, {"tier": "no-such-tier"}) is None
    assert gpu_tier(catalog, {}, {"hybrid": {"tier": "gpu-1"}}) == "gpu-1"
    users = [
        {"name": "ann", "servers": {"": {"ready": True}, "b": {"ready": False}}},
        {"name": "bob", "servers": {}},
    ]
    assert [(u, n) for u, n, _ in servers(users)] == [("ann", "")]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--threshold", "0"], "--threshold"),
        (["--idle-minutes", "5", "--warn-minutes", "10"], "--warn-minutes"),
        ([], "--catalog"),
    ],
)
def test_bad_arguments_are_named(argv, error, capsys, monkeypatch):
    monkeypatch.delenv("JUPYTER_HYBRID_CATALOG", raising=False)
    if argv:
        argv = ["--catalog", "c.yaml", *argv]
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert error in capsys.readouterr().err


def test_dry_run_is_the_default():
    assert parse_args(["--catalog", "c.yaml"]).dry_run is True
    assert parse_args(["--catalog", "c.yaml", "--no-dry-run"]).dry_run is False


@pytest.mark.parametrize("dry_run", [True, False])
async def test_culler_reads_a_real_server_and_warns_through_it(
    jp_serverapp, jp_fetch, jp_http_port, jp_base_url, dry_run, caplog
):
    gpu = FakeGPU(util_samples=[(int((T0 + i) * 1e6), 2) for i in range(0, 600, 5)])
    sampler = GpuSampler(nvml=FakeNVML([gpu]))
    assert sampler.open()
    sampler.poll()
    jp_serverapp.web_app.settings["jupyter_hybrid.gpu_sampler"] = sampler
    catalog = load_catalog(ROOT / "hub_config" / "catalog.yaml")
    culler = Culler(
        "http://127.0.0.1:1/hub/api", jp_serverapp.identity_provider.token, f"http://localhost:{jp_http_port}",
        catalog, POLICY, dry_run=dry_run,
    )  # fmt: skip
    server = {"url": jp_base_url, "user_options": {"tier": "gpu-1"}, "ready": True}
    with caplog.at_level("INFO", logger="jupyter_hybrid.gpu_culler"):
        # what the hub's /users answer would hold; check_server does the per-server part
        # (in a thread: the culler is a blocking client and this server runs on the test's loop)
        action = await asyncio.to_thread(
            culler.check_server, "ann/", "ann", "", server, "gpu-1", T0 + 25 * MIN
        )
    assert action == "warn"
    assert culler.watches["ann/"].cursor == T0 + 595  # read the server's history over HTTP
    logged = [r.getMessage() for r in caplog.records]
    assert any(("would warn" in m) == dry_run and "ann/ tier=gpu-1" in m for m in logged), logged
    notices = json.loads((await jp_fetch("jupyter-hybrid", "gpu", "notices")).body)["notices"]
    if dry_run:
        assert notices == []
    else:
        assert len(notices) == 1 and notices[0]["source"] == "gpu-culler"
        assert "stopped in 10 minutes" in notices[0]["message"]
