"""What this notebook server was started with, read from the environment the spawner set."""

from __future__ import annotations

import os
from collections.abc import Mapping

NOT_UNDER_HUB = "not running under a hub: this server has no hardware tier, site or environment"


def _number(value: str | None, cast):
    try:
        return cast(value) if value else None
    except ValueError:
        return None


def server_info(env: Mapping[str, str] | None = None) -> dict:
    """Tier, site, environment and limits of this server (None when not spawned by our hub)."""
    env = os.environ if env is None else env
    tier = env.get("JUPYTER_HYBRID_TIER") or None
    return {
        "under_hub": tier is not None,
        "message": None if tier else NOT_UNDER_HUB,
        "tier": tier,
        "site": env.get("JUPYTER_HYBRID_SITE") or None,
        "environment": env.get("JUPYTER_HYBRID_ENVIRONMENT") or None,
        "user": env.get("JUPYTERHUB_USER") or None,
        "placement": env.get("JUPYTER_HYBRID_PLACEMENT") or None,  # why the hub chose this site
        "limits": {
            "cpu": _number(env.get("CPU_LIMIT"), float),
            "memory": _number(env.get("MEM_LIMIT"), int),
            "gpus": _number(env.get("JUPYTER_HYBRID_GPUS"), int),
        },
    }
