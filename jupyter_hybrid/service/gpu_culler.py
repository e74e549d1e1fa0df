"""Idle-GPU culler: a JupyterHub service that stops servers on GPU tiers whose GPUs sit idle.

Every ``--interval`` seconds it lists the hub's ready servers, keeps those whose tier (catalog) has
GPUs, reads each one's ``/jupyter-hybrid/gpu?since=`` (utilisation history) with the service's token,
and decides (``idle.decide``): keep, warn (a notice in the user's GPU panel, POSTed to the server's
``/jupyter-hybrid/gpu/notices``), or stop (hub API). Every decision is logged. ``--dry-run`` (the
default) logs what it would do and touches nothing.

Scopes it needs (hub_config/jupyterhub_config.py): read:users (list servers and their
user_options), servers (stop them), access:servers (call the users' servers).

    python -m jupyter_hybrid.service.gpu_culler --catalog hub_config/catalog.yaml --no-dry-run
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from urllib.parse import quote

import requests

from ..catalog import load_catalog
from .idle import Policy, Watch, decide, gpu_tier, observe, servers

log = logging.getLogger("jupyter_hybrid.gpu_culler")


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
        r = self.http.get(f"{self.api_url}/users", params={"state": "ready"}, timeout=30)
        r.raise_for_status()
        seen, actions = set(), {}
        for user, name, server in servers(r.json()):
            key = f"{user}/{name}"
            tier = gpu_tier(self.catalog, server.get("user_options"), server.get("state"))
            if tier is None:
                continue
            seen.add(key)
            actions[key] = self.check_server(key, user, name, server, tier, now)
        for gone in set(self.watches) - seen:  # stopped or restarted: start afresh next time
            del self.watches[gone]
        return actions

    def check_server(self, key: str, user: str, name: str, server: dict, tier: str, now: float | None) -> str:
        url = f"{self.public_url}{server['url']}jupyter-hybrid/gpu"
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
        watch = self.watches[key] = observe(watch, state.get("history") or {}, now, self.policy.threshold)
        decision = decide(watch, now, self.policy)
        prefix = "dry-run, would " if self.dry_run and decision.action in ("warn", "stop") else ""
        log.info("%s tier=%s action=%s%s: %s", key, tier, prefix, decision.action, decision.reason)
        if decision.action == "warn":
            watch.warned_at = now  # in dry-run too: the log then shows when it would stop
            if not self.dry_run:
                self.warn(url, decision)
        elif decision.action == "stop" and not self.dry_run:
            self.stop(user, name)
            self.watches.pop(key, None)
        return decision.action

    def warn(self, url: str, decision) -> None:
        minutes = self.policy.warn_seconds / 60
        message = (
            f"Your GPUs have been under {self.policy.threshold:g}% utilisation for "
            f"{decision.idle_seconds / 60:.0f} minutes. This server will be stopped in {minutes:.0f} minutes "
            "unless they get busy again. Save your work."
        )
        body = {
            "message": message,
            "level": "warning",
            "source": "gpu-culler",
            "ttl": self.policy.warn_seconds,
        }
        try:
            self.http.post(f"{url}/notices", json=body, timeout=30).raise_for_status()
        except requests.RequestException as e:
            log.warning("could not post the warning to %s: %s", url, e)

    def stop(self, user: str, name: str) -> None:
        path = f"/users/{quote(user)}/servers/{quote(name)}" if name else f"/users/{quote(user)}/server"
        r = self.http.delete(f"{self.api_url}{path}", timeout=60)
        if r.status_code not in (202, 204):
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
        except requests.RequestException as e:
            log.warning("hub API unreachable: %s", e)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
