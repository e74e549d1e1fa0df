"""The demo JupyterHub of jupyter-hybrid: the embedded default catalog (one site, `local`: this
machine), any username with one shared password, servers placed by HybridSpawner.

Started by `make run`. Settings come from environment variables so tests and benchmarks can run
several hubs side by side:

    JUPYTER_HYBRID_DEMO_PASSWORD  password for every user (8+ characters); default: random, printed
    JUPYTER_HYBRID_CATALOG        catalog file; default: hub_config/catalog.yaml
    JUPYTER_HYBRID_STATE_DIR      database, cookie secret, users' homes; default: .hub-state/
    JUPYTER_HYBRID_PORT           public port on 127.0.0.1; default 8000
    JUPYTER_HYBRID_HUB_PORT       hub API port; default 8081
    JUPYTER_HYBRID_PROXY_API_PORT configurable-http-proxy API port; default 8001
"""

import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

from jupyter_hybrid.catalog import CatalogError, load_catalog
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
c.JupyterHub.bind_url = f"http://127.0.0.1:{env('JUPYTER_HYBRID_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{env('JUPYTER_HYBRID_HUB_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('JUPYTER_HYBRID_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
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
        f"\n  jupyter-hybrid demo: log in at http://127.0.0.1:{env('JUPYTER_HYBRID_PORT', '8000')} "
        f"with any username and the password {password}\n",
        flush=True,
    )
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = password
c.Authenticator.allow_all = True

# Placement: tiers and environments from the catalog, servers on the site placement picks.
c.JupyterHub.spawner_class = "hybrid"
c.HybridSpawner.catalog_file = CATALOG
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
