"""Idle-GPU culler: a JupyterHub service that stops servers on GPU tiers whose GPUs sit idle.

Every ``--interval`` seconds it lists the hub's ready servers, keeps those whose tier (catalog) has
GPUs, reads each one's ``/jupyter-hybrid/gpu?since=`` (utilisation history) with the service's token,
and decides (``idle.decide``): keep, warn (a notice in the user's GPU panel, POSTed to the server's
``/jupyter-hybrid/gpu/notices``), or stop (hub API). Every decision is logged. ``--dry-run`` (the
default) logs what it would do and touches nothing.

Scopes it needs (``SCOPES``, granted by ``hub_service()`` in hub_config/jupyterhub_config.py):
list:users (``GET /users``), read:servers (their servers and user_options), delete:servers (stop
them), access:servers (call the users' servers with the service's token).

    python -m jupyter_hybrid.service.gpu_culler --catalog hub_config/catalog.yaml --no-dry-run
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote, urljoin

import requests

from ..catalog import load_catalog
from .idle import Policy, Watch, decide, gpu_tier, observe, servers

log = logging.getLogger("jupyter_hybrid.gpu_culler")

#: what the service's role must grant (GET /users needs list:users since JupyterHub 5; the server
#: models need read:servers; stopping needs delete:servers; the GPU endpoints need access:servers)
SCOPES = ["list:users", "read:servers", "delete:servers", "access:servers"]


def hub_service(catalog: str, public_url: str, args=(), name: str = "gpu-culler") -> tuple[dict, dict]:
    """The JupyterHub service entry and role of the culler, for ``c.JupyterHub.services``/``load_roles``."""
    command = [sys.executable, "-m", "jupyter_hybrid.service.gpu_culler", f"--catalog={catalog}"]
    command += [f"--public-url={public_url}", *args]
    return {"name": name, "command": command}, {"name": name, "services": [name], "scopes": list(SCOPES)}


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "45 seconds", "10 minutes", "1.5 hours"."""
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


class Culler:
    def __init__(
        self, api_url: str, token: str, public_url: str, catalog, policy: Policy, dry_run: bool = True
    ):
        self.api_url = api_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.catalog = catalog
        self.policy = policy
        self.dry_run = dry_run
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"
        self.watches: dict[str, Watch] = {}

    def check(self, now: float | None = None) -> dict[str, str]:
        """One pass over the hub's servers; returns {user/server: action} (for tests and logs)."""
        seen, actions = set(), {}
        for user, name, server in servers(self.users()):
            key = f"{user}/{name}"
            tier = gpu_tier(self.catalog, server.get("user_options"), server.get("state"))
            if tier is None:
                continue
            seen.add(key)
            actions[key] = self.check_server(key, user, name, server, tier, now)
        for gone in set(self.watches) - seen:  # stopped or restarted: start afresh next time
            del self.watches[gone]
        return actions

    def users(self) -> Iterator[dict]:
        """Every user with a ready server, page after page (the hub answers 50 users a page by default)."""
        params = {"state": "ready", "offset": 0}
        headers = {"Accept": "application/jupyterhub-pagination+json"}
        while True:
            r = self.http.get(f"{self.api_url}/users", params=params, headers=headers, timeout=30)
            if r.status_code == 403:
                raise PermissionError(
                    f"GET /users: 403 {r.text[:200]}. Grant the culler's role the scopes {SCOPES}"
                )
            r.raise_for_status()
            page = r.json()
            if isinstance(page, list):  # a hub without pagination
                yield from page
                return
            yield from page["items"]
            following = (page.get("_pagination") or {}).get("next")
            if not following:
                return
            params["offset"] = following["offset"]

    def server_url(self, server: dict) -> str:
        """The server's base URL through the proxy: its full_url (subdomains) or public URL + its path.

        ``url`` already holds the hub's base_url (``/prefix/user/NAME/``), so it replaces the public
        URL's path rather than being appended to it.
        """
        return server.get("full_url") or urljoin(self.public_url + "/", server["url"])

    def check_server(self, key: str, user: str, name: str, server: dict, tier: str, now: float | None) -> str:
        url = f"{self.server_url(server).rstrip('/')}/jupyter-hybrid/gpu"
        watch = self.watches.get(key)
        since = watch.cursor if watch else (now or time.time()) - self.policy.idle_seconds
        try:
            r = self.http.get(url, params={"since": f"{since:.6f}"}, timeout=30)
            r.raise_for_status()
            state = r.json()
        except (requests.RequestException, ValueError) as e:
            log.warning("%s tier=%s action=keep: cannot read its GPU state (%s)", key, tier, e)
            return "keep"
        now = now if now is not None else time.time()
        if not state.get("available"):
            log.info("%s tier=%s action=keep: the server reports no GPU (%s)", key, tier, state.get("reason"))
            return "keep"
        was_warned = watch is not None and watch.warned_at is not None
        watch = self.watches[key] = observe(watch, state.get("history") or {}, now, self.policy.threshold)
        decision = decide(watch, now, self.policy)
        prefix = "dry-run, would " if self.dry_run and decision.action in ("warn", "stop") else ""
        log.info("%s tier=%s action=%s%s: %s", key, tier, prefix, decision.action, decision.reason)
        if was_warned and watch.warned_at is None:  # busy again: the stop is called off
            log.info("%s tier=%s: GPUs busy again, warning withdrawn", key, tier)
            if not self.dry_run:
                self.notify(url, "Your GPUs are busy again: this server will not be stopped.", "info")
        if decision.action == "warn":
            watch.warned_at = now  # in dry-run too: the log then shows when it would stop
            if not self.dry_run:
                self.warn(url, decision)
        elif decision.action == "stop" and not self.dry_run:
            self.stop(user, name)
            self.watches.pop(key, None)
        return decision.action

    def warn(self, url: str, decision) -> None:
        message = (
            f"Your GPUs have been under {self.policy.threshold:g}% utilisation for "
            f"{duration(decision.idle_seconds)}. This server will be stopped in "
            f"{duration(self.policy.warn_seconds)} unless they get busy again. Save your work."
        )
        self.notify(url, message, "warning")

    def notify(self, url: str, message: str, level: str) -> None:
        """A notice in the user's GPU panel, shown for the warning time."""
        body = {"message": message, "level": level, "source": "gpu-culler", "ttl": self.policy.warn_seconds}
        try:
            self.http.post(f"{url}/notices", json=body, timeout=30).raise_for_status()
        except requests.RequestException as e:
            log.warning("could not post a notice to %s: %s", url, e)

    def stop(self, user: str, name: str) -> None:
        u, n = quote(user, safe=""), quote(name, safe="")
        path = f"/users/{u}/servers/{n}" if name else f"/users/{u}/server"
        r = self.http.delete(f"{self.api_url}{path}", timeout=60)
        if r.status_code in (202, 204):
            log.info("%s/%s: stop requested (hub answered %s)", user, name, r.status_code)
        else:
            log.warning("stopping %s/%s failed: %s %s", user, name, r.status_code, r.text[:200])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="jupyter-hybrid-gpu-culler", description=__doc__.split("\n\n")[0])
    p.add_argument("--catalog", default=os.environ.get("JUPYTER_HYBRID_CATALOG"), help="catalog file (tiers)")
    p.add_argument(
        "--threshold",
        type=float,
        default=10.0,
        help="GPU utilisation %% under which a GPU is idle (default 10)",
    )
    p.add_argument("--idle-minutes", type=float, default=30.0, help="idle minutes before a stop (default 30)")
    p.add_argument(
        "--warn-minutes", type=float, default=10.0, help="warning minutes before a stop (default 10)"
    )
    p.add_argument("--interval", type=float, default=60.0, help="seconds between two checks (default 60)")
    p.add_argument(
        "--public-url",
        default=os.environ.get("JUPYTERHUB_PUBLIC_URL") or "http://127.0.0.1:8000",
        help="the proxy's URL, through which users' servers are reached (default $JUPYTERHUB_PUBLIC_URL)",
    )
    dry = p.add_mutually_exclusive_group()
    dry.add_argument(
        "--dry-run", dest="dry_run", action="store_true", default=True, help="log only (default)"
    )
    dry.add_argument("--no-dry-run", dest="dry_run", action="store_false", help="warn users and stop servers")
    args = p.parse_args(argv)
    if not args.catalog:
        p.error("--catalog (or $JUPYTER_HYBRID_CATALOG) is required: the culler reads GPU tiers from it")
    if not 0 < args.threshold <= 100:
        p.error(f"--threshold {args.threshold}: give a percentage in (0, 100]")
    if not 0 <= args.warn_minutes < args.idle_minutes:
        p.error(f"--warn-minutes {args.warn_minutes} must be >= 0 and < --idle-minutes {args.idle_minutes}")
    return args


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(asctime)s gpu-culler] %(message)s")
    args = parse_args(argv)
    policy = Policy(args.threshold, args.idle_minutes * 60, args.warn_minutes * 60)
    culler = Culler(
        os.environ["JUPYTERHUB_API_URL"],
        os.environ["JUPYTERHUB_API_TOKEN"],
        args.public_url,
        load_catalog(args.catalog),
        policy,
        args.dry_run,
    )
    log.info("idle-GPU culler: %s, every %gs%s", policy, args.interval, " (dry run)" if args.dry_run else "")
    while True:
        try:
            culler.check()
        except PermissionError as e:
            log.error("%s", e)
        except requests.RequestException as e:
            log.warning("hub API unreachable: %s", e)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
