"""The demo JupyterHub of jupyter-hybrid: the embedded default catalog (one site, `local`: this
machine), any username with one shared password, servers placed by HybridSpawner.

Started by `make run`. Settings come from environment variables so tests and benchmarks can run
several hubs side by side; the README lists them ("Demo settings"). A port that is taken stops the
hub here, naming the variable and a free port to set, rather than a proxy traceback later.
"""

import errno
import os
import secrets
import shlex
import shutil
import socket
import sys
from pathlib import Path

from jupyter_hybrid.catalog import CatalogError, load_catalog
from jupyter_hybrid.service import control_plane
from jupyter_hybrid.service.gpu_culler import hub_service

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
env = os.environ.get
STATE = Path(env("JUPYTER_HYBRID_STATE_DIR") or ROOT / ".hub-state").resolve()
STATE.mkdir(parents=True, exist_ok=True)
CATALOG = env("JUPYTER_HYBRID_CATALOG") or str(HERE / "catalog.yaml")

# A broken catalog stops the hub here, with the file, the key and the fix.
# (SystemExit, not an exception: JupyterHub would log an exception and start anyway.)
try:
    load_catalog(CATALOG)
except CatalogError as e:
    sys.exit(f"jupyter-hybrid: the hub will not start, the catalog is invalid:\n{e}")

# Network: loopback only.
HOST = "127.0.0.1"
PROXY_PID_FILE = STATE / "jupyterhub-proxy.pid"


def port_setting(var: str, default: int) -> int:
    value = env(var) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        sys.exit(f"jupyter-hybrid: {var}={value[:20]!r} is not a port; set it to a number from 1 to 65535")
    return int(value)


def bind_problem(port: int) -> str | None:
    """Why the hub or its proxy could not listen on ``port``, or None. SO_REUSEADDR, as they bind:
    a port left in TIME_WAIT by a stopped hub is free, only a listening socket is "in use"."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            return "is in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
    return None


def previous_proxy_running() -> bool:
    """A proxy left by an earlier hub (its pid file): JupyterHub stops it and takes its ports."""
    try:
        os.kill(int(PROXY_PID_FILE.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def check_ports(ports: dict[str, int]) -> None:
    """Exit with what to set when a port is taken (or two settings name the same port)."""
    names = {}
    for var, port in ports.items():
        if port in names:
            sys.exit(f"jupyter-hybrid: {var} and {names[port]} are both {port}; give each its own port")
        names[port] = var
    proxy_owned = set()
    if previous_proxy_running():
        proxy_owned = {"JUPYTER_HYBRID_PORT", "JUPYTER_HYBRID_PROXY_API_PORT"}
    problems = []
    for var, port in ports.items():
        problem = None if var in proxy_owned else bind_problem(port)
        if problem:
            nearby = range(port + 1, min(port + 200, 65536))
            free = next((p for p in nearby if p not in names and not bind_problem(p)), None)
            fix = f"pick another, e.g. `{var}={free} make run`" if free else f"set {var} to a free port"
            problems.append(f"port {port} on {HOST} {problem} ({var}); {fix}")
    if problems:
        sys.exit("jupyter-hybrid: the hub will not start:\n  " + "\n  ".join(problems))


PORTS = {
    "JUPYTER_HYBRID_PORT": port_setting("JUPYTER_HYBRID_PORT", 8000),
    "JUPYTER_HYBRID_HUB_PORT": port_setting("JUPYTER_HYBRID_HUB_PORT", 8081),
    "JUPYTER_HYBRID_PROXY_API_PORT": port_setting("JUPYTER_HYBRID_PROXY_API_PORT", 8001),
    "JUPYTER_HYBRID_CONTROL_PORT": port_setting("JUPYTER_HYBRID_CONTROL_PORT", 8082),
}
check_ports(PORTS)
PORT = PORTS["JUPYTER_HYBRID_PORT"]
c.JupyterHub.bind_url = f"http://{HOST}:{PORT}"
c.JupyterHub.hub_bind_url = f"http://{HOST}:{PORTS['JUPYTER_HYBRID_HUB_PORT']}"
c.ConfigurableHTTPProxy.api_url = f"http://{HOST}:{PORTS['JUPYTER_HYBRID_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.pid_file = str(PROXY_PID_FILE)
chp = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
if chp.exists():  # installed by `make` through jlpm; otherwise found on PATH
    c.ConfigurableHTTPProxy.command = [str(chp)]
elif not shutil.which("configurable-http-proxy"):
    sys.exit("jupyter-hybrid: configurable-http-proxy not found; run `make install` (or npm i -g it)")

c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# Demo login: any username, one shared password.
password = env("JUPYTER_HYBRID_DEMO_PASSWORD")
if not password:
    password = secrets.token_urlsafe(12)
    print(
        f"\n  jupyter-hybrid demo: log in at http://{HOST}:{PORT} "
        f"with any username and the password {password}\n",
        flush=True,
    )
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
c.Authenticator.allow_all = True

# Placement: tiers and environments from the catalog, servers on the site placement picks.
c.JupyterHub.spawner_class = "hybrid"
c.HybridSpawner.catalog_file = CATALOG
# The store the hub's spawner and the control-plane service share: its allocation ledger records what
# every server, job run and API deployment holds, so no local GPU is handed out twice and quotas count
# them all. The service gets the same URL as JUPYTER_HYBRID_DB_URL. Default: a file in the hub state dir.
STORE_URL = env("JUPYTER_HYBRID_DB_URL") or f"sqlite:///{STATE / 'hybrid.sqlite'}"
c.HybridSpawner.store_url = STORE_URL
# The demo runs every user's server as the hub's own OS user (no system accounts needed).
# In production keep the default LocalProcessSpawner (one system user per hub user).
c.HybridSpawner.local_spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
if os.getuid() == 0:
    # These machines run everything as root and jupyter-server refuses root without this flag.
    # Demo and tests only: never run single-user servers as root in production.
    c.Spawner.args = ["--allow-root"]

# Idle-GPU culler (jupyter_hybrid/service/gpu_culler.py): stops servers on GPU tiers whose GPUs stayed
# under 10% for 30 minutes, after a 10-minute warning in the user's GPU panel. Dry run by default (it
# only logs its decisions); act with e.g. JUPYTER_HYBRID_GPU_CULLER="--no-dry-run --idle-minutes 60".
culler, culler_role = hub_service(
    CATALOG, c.JupyterHub.bind_url, shlex.split(env("JUPYTER_HYBRID_GPU_CULLER", ""))
)
c.JupyterHub.services.append(culler)
c.JupyterHub.load_roles.append(culler_role)  # list:users, read:servers, delete:servers, access:servers

# The control plane (jupyter_hybrid/service/control_plane.py): job definitions, schedules and runs,
# as the hub service `jupyter-hybrid`, so they go on while a user's server is stopped. Only this
# service gets the store's URL (in its own environment); users' servers forward their
# /jupyter-hybrid/jobs requests to it with their own token (JUPYTER_HYBRID_CONTROL_URL below), and
# the service asks the hub whose token it is.
CONTROL_PORT = PORTS["JUPYTER_HYBRID_CONTROL_PORT"]
CONTROL = control_plane.SERVICE_NAME
CONTROL_URL = f"http://{HOST}:{CONTROL_PORT}"
c.JupyterHub.services.append(
    {
        "name": CONTROL,
        "url": CONTROL_URL,
        "command": [
            sys.executable,
            "-m",
            "jupyter_hybrid.cli",
            "control-plane",
            f"--catalog={CATALOG}",
            f"--runs-dir={STATE / 'runs'}",
        ],
        "environment": {"JUPYTER_HYBRID_DB_URL": STORE_URL, "JUPYTER_HYBRID_CATALOG": CATALOG},
        "display": False,  # an API, not a page for the hub's Services menu
    }
)
# every user may call it (their own API tokens included); their servers' tokens carry the scope too
c.JupyterHub.load_roles.extend(control_plane.hub_roles(CONTROL))
c.Spawner.server_token_scopes = control_plane.server_token_scopes(CONTROL)
# the service's API base, reached directly (not a secret); the store URL is never passed to servers
c.Spawner.environment.update({"JUPYTER_HYBRID_CONTROL_URL": f"{CONTROL_URL}/services/{CONTROL}/"})
