"""The idle-GPU culler as a real JupyterHub service: a real hub, proxy and JupyterLab servers.

The hub's local site reports simulated GPUs (``tests.gputools.use_simulated_gpu_sites``, set in the
test hub's overlay config), and every single-user server loads the simulated-GPU server extension
(``tests.gputools``) through a Jupyter config folder, with its utilisation read from a file per user
(``$JUPYTER_HYBRID_TEST_GPU_UTIL``), so a test can keep a GPU idle or make it busy. The culler runs
from the product's own service entry and role (``hub_service``), with seconds instead of minutes.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from jupyter_hybrid.service.gpu_culler import Culler
from jupyter_hybrid.service.idle import Policy

from .hubtools import ROOT, Hub

# seconds, not minutes: 24 s idle before a stop, of which 12 s warned (long enough for three servers
# to start side by side on a loaded machine before the first warning)
IDLE_MIN, WARN_MIN = 0.4, 0.2
WARN_S = WARN_MIN * 60
CULLER_ARGS = f"--interval 0.5 --idle-minutes {IDLE_MIN} --warn-minutes {WARN_MIN}"
DRY_ARGS = "--interval 0.5 --idle-minutes 0.1 --warn-minutes 0.05"  # dry run is the default

CATALOG = """
sites:
  local: {kind: local, region: local}
tiers:
  small: {cpu: 0.5, memory: 512M, default: true}
  gpu-1: {cpu: 0.5, memory: 512M, gpu: 1}
environments:
  default: {default: true}
"""

OVERLAY = """
import os, shlex
from jupyter_hybrid.service.gpu_culler import hub_service
from tests.gputools import use_simulated_gpu_sites

use_simulated_gpu_sites(4)  # test only: the local site places GPU tiers on this GPU-less machine
# hubtools' overlay replaced the services and roles: add the product's culler entry back
args = shlex.split(os.environ["JUPYTER_HYBRID_GPU_CULLER"])
culler, role = hub_service(os.environ["JUPYTER_HYBRID_CATALOG"], c.JupyterHub.bind_url, args)
c.JupyterHub.services.append(culler)
c.JupyterHub.load_roles.append(role)
c.JupyterHub.api_page_default_limit = 1  # GET /users answers one user a page: the culler must page on
c.Spawner.environment = {{
    "JUPYTER_CONFIG_PATH": {config_dir!r},  # enables the tests.gputools server extension
    "JUPYTER_HYBRID_TEST_GPU_UTIL": lambda spawner: os.path.join({util_dir!r}, spawner.user.name),
}}
"""


def make_hub(tmp: Path, culler_args: str, monkeypatch) -> Hub:
    (tmp / "catalog.yaml").write_text(CATALOG)
    config_dir = tmp / "jupyter-config"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    (config_dir / "jupyter_server_config.d" / "tests_gputools.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"tests.gputools": True}}})
    )
    (tmp / "util").mkdir()
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # tests.gputools, in the hub and (env_keep) its servers
    monkeypatch.setenv("JUPYTER_HYBRID_GPU_CULLER", culler_args)
    overlay = OVERLAY.format(config_dir=str(config_dir), util_dir=str(tmp / "util"))
    hub = Hub(tmp / "hub", catalog=tmp / "catalog.yaml", extra_config=overlay)
    hub.util_dir = tmp / "util"
    return hub.start()


def set_util(hub: Hub, user: str, percent: float) -> None:
    (hub.util_dir / user).write_text(str(percent))


def spawn(hub: Hub, user: str, tier: str, util: float = 0) -> None:
    set_util(hub, user, util)
    hub.api("POST", f"/users/{user}")
    r = hub.api("POST", f"/users/{user}/server", json={"tier": tier})
    assert r.status_code in (201, 202), r.text


def gpu_state(hub: Hub, user: str) -> dict:
    r = hub.get(f"/user/{user}/jupyter-hybrid/gpu")
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(what: str, check, timeout: float, hub: Hub):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"{what} not seen in {timeout}s:\n{hub.log()}")


def wait_simulated_gpu(hub: Hub, user: str) -> dict:
    """The server's sampler swapped for the simulated GPU and some samples taken."""
    return wait_for(
        f"{user}'s simulated GPU",
        lambda: (s := gpu_state(hub, user))["available"] and s["gpus"] and s,
        30,
        hub,
    )


def culler_lines(hub: Hub, user: str) -> list[str]:
    text = hub.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "gpu-culler]" in line and f" {user}/" in line]


def is_ready(hub: Hub, user: str) -> bool:
    server = hub.api("GET", f"/users/{user}").json()["servers"].get("")
    return bool(server and server["ready"])


@pytest.fixture
def dry_hub(tmp_path, monkeypatch):
    hub = make_hub(tmp_path, DRY_ARGS, monkeypatch)
    yield hub
    assert hub.stop() == 0, hub.log()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    hub = make_hub(tmp_path, f"--no-dry-run {CULLER_ARGS}", monkeypatch)
    yield hub
    assert hub.stop() == 0, hub.log()


@pytest.mark.hub
def test_dry_run_logs_the_decisions_and_touches_nothing(dry_hub):
    hub = dry_hub
    spawn(hub, "dora", "gpu-1")
    hub.wait_ready("dora")
    wait_simulated_gpu(hub, "dora")
    wait_for(
        "a dry-run stop decision",
        lambda: any("action=dry-run, would stop" in line for line in culler_lines(hub, "dora")),
        6 + 30,
        hub,
    )
    lines = culler_lines(hub, "dora")
    assert any("tier=gpu-1 action=dry-run, would warn: GPUs idle" in line for line in lines), lines
    assert not any("stop requested" in line for line in lines), lines
    time.sleep(1.5)  # three more checks
    assert is_ready(hub, "dora"), "a dry run must not stop the server"
    assert gpu_state(hub, "dora")["notices"] == [], "a dry run must not warn the user"
    assert hub.get("/user/dora/jupyter-hybrid/info").status_code == 200


@pytest.mark.hub
def test_idle_gpu_server_is_warned_then_stopped_busy_and_cpu_servers_are_kept(hub):
    servers = {
        "ida": "gpu-1",  # idle GPU all along
        "bea": "gpu-1",  # idle, then busy once warned
        "cal": "small",  # CPU tier: its server also sees an idle simulated GPU
    }
    with ThreadPoolExecutor(3) as pool:  # the hub answers a POST only once the server runs (or 10 s)
        list(pool.map(lambda user: spawn(hub, user, servers[user]), servers))
    for user in ("ida", "bea", "cal"):
        hub.wait_ready(user)
        wait_simulated_gpu(hub, user)

    def warning(user):
        r = hub.get(f"/user/{user}/jupyter-hybrid/gpu")
        notices = [n for n in r.json()["notices"] if n["source"] == "gpu-culler"] if r.ok else []
        return notices and notices[0]

    warned: dict[str, dict] = {}

    def both_warned():
        for user in ("bea", "ida"):
            if user not in warned and (notice := warning(user)):
                warned[user] = notice
                if user == "bea":  # busy again before the warning runs out: the stop is called off
                    set_util(hub, "bea", 80)
        return len(warned) == 2

    wait_for("the warnings", both_warned, IDLE_MIN * 60 + 30, hub)
    bea_notice, ida_notice = warned["bea"], warned["ida"]
    assert bea_notice["level"] == "warning" and "will be stopped in" in bea_notice["message"]
    withdrawn = wait_for(
        "bea's all-clear",
        lambda: [n["message"] for n in gpu_state(hub, "bea")["notices"] if n["level"] == "info"],
        WARN_S,
        hub,
    )
    assert withdrawn == ["Your GPUs are busy again: this server will not be stopped."]
    assert re.search(r"under 10% utilisation for \d+ seconds", ida_notice["message"]), ida_notice
    assert f"stopped in {WARN_S:.0f} seconds" in ida_notice["message"]

    hub.wait_stopped("ida", timeout=WARN_S + 30)
    stopped_at = time.time()
    assert stopped_at - ida_notice["time"] >= WARN_S - 0.5, "the user gets the whole warning time"
    ida_lines = culler_lines(hub, "ida")
    assert any("tier=gpu-1 action=warn: GPUs idle" in line for line in ida_lines), ida_lines
    assert any("tier=gpu-1 action=stop: GPUs idle" in line for line in ida_lines), ida_lines
    assert any("ida/: stop requested" in line for line in ida_lines), ida_lines

    # bea was warned before ida; well past her own stop time she still runs, now busy
    time.sleep(max(0.0, bea_notice["time"] + 2 * WARN_S - time.time()))
    assert is_ready(hub, "bea"), "a busy GPU must call the stop off"
    bea_lines = culler_lines(hub, "bea")
    assert not any("action=stop" in line for line in bea_lines), bea_lines
    warned = next(i for i, line in enumerate(bea_lines) if "action=warn" in line)
    assert any("GPUs busy again, warning withdrawn" in line for line in bea_lines[warned:]), bea_lines
    assert any("action=keep" in line for line in bea_lines[warned:]), bea_lines

    # the CPU tier's server, as idle as ida's, is never looked at
    assert is_ready(hub, "cal")
    assert gpu_state(hub, "cal")["notices"] == []
    assert culler_lines(hub, "cal") == []
    assert "403" not in "\n".join(line for line in hub.log().splitlines() if "gpu-culler]" in line)


@pytest.mark.parametrize(
    ("public_url", "server", "expected"),
    [
        ("http://127.0.0.1:8000", {"url": "/user/ann/"}, "http://127.0.0.1:8000/user/ann/"),
        # base_url: the server's url already holds the prefix, it must not be doubled
        (
            "https://hub.example/jhub/",
            {"url": "/jhub/user/ann/gpu/"},
            "https://hub.example/jhub/user/ann/gpu/",
        ),
        # subdomains: the hub gives the full URL
        (
            "https://hub.example",
            {"url": "https://ann.hub.example/user/ann/", "full_url": "https://ann.hub.example/user/ann/"},
            "https://ann.hub.example/user/ann/",
        ),
    ],
)
def test_server_url_through_the_proxy(public_url, server, expected):
    culler = Culler("http://127.0.0.1:8081/hub/api", "t", public_url, catalog=None, policy=Policy())
    assert culler.server_url(server) == expected
