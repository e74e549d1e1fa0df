"""How a workload finds a dataset, on any site: one env var, and on clusters one mount path."""

from __future__ import annotations

import os

#: where Kubernetes sites mount dataset NAME (``/data/NAME``)
MOUNT_ROOT = "/data"


def dataset_env_name(name: str) -> str:
    """'claims-2024' -> 'JUPYTER_HYBRID_DATASET_CLAIMS_2024' (the variable holding its path or URL)."""
    return "JUPYTER_HYBRID_DATASET_" + name.upper().replace("-", "_")


def mount_path(name: str) -> str:
    return f"{MOUNT_ROOT}/{name}"


class DatasetError(RuntimeError):
    """A requested dataset cannot be reached where the workload runs; the message says the fix."""


def local_dataset_env(site: str, datasets: dict) -> dict[str, str]:
    """Env vars for datasets on a local site: the location's path itself (a url: the URL)."""
    env = {}
    for name, where in sorted(datasets.items()):
        value = where.path or where.url
        if value is None:
            raise DatasetError(
                f"dataset {name!r}: site {site} is local; fix datasets.{name}.locations.{site}: "
                "give a path or a url (pvc and host_path are for Kubernetes sites)"
            )
        if where.path and not os.path.isdir(os.path.expanduser(where.path)):
            raise DatasetError(
                f"dataset {name!r}: {where.path} does not exist on site {site}; "
                f"create it or fix datasets.{name}.locations.{site}.path"
            )
        env[dataset_env_name(name)] = os.path.expanduser(where.path) if where.path else where.url
    return env
