"""The environment a restore's third-party code runs with: this process's, minus its secrets.

pip, conda and every package's build backend (``setup.py``, hatchling, ...) run during a restore:
code the snapshot named, not code this server trusts. They get the server's variables without
anything that looks like a credential (hub and API tokens, passwords, keys, database URLs), and
without what would make the new environment see this one's packages. What pip itself needs
(``PATH``, ``HOME``, ``LANG``, ``PIP_*`` index settings, proxies, CA bundles) is kept.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping

# matched against the upper-cased name
DENY = (
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*_KEY",
    "*_KEY_*",
    "*ACCESS_KEY*",
    "*API_KEY*",
    "*PRIVATE_KEY*",
    "*COOKIE*",
    "JUPYTERHUB_*",
    "JPY_*",
    "JUPYTER_HYBRID_DB_URL",
    "*DATABASE_URL*",
    "*_DB_URL",
    "*_DSN",
)
# this environment's own interpreter and packages: the new one must not see them
LEAKY = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_USER",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)
# what pip and conda need to reach an index; kept even where a DENY pattern matches
KEEP = ("PIP_*", "*_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def is_secret(name: str, extra_deny: Iterable[str] = ()) -> bool:
    """Whether variable ``name`` is withheld from a restore's tools (DENY + ``extra_deny``, not KEEP)."""
    if _matches(name, KEEP) and name.upper() not in LEAKY:
        return False
    return _matches(name, (*DENY, *extra_deny))


def restore_env(environ: Mapping[str, str] | None = None, extra_deny: Iterable[str] = ()) -> dict[str, str]:
    """``environ`` (default ``os.environ``) without secrets and leaky variables, plus pip's quiet flags."""
    environ = os.environ if environ is None else environ
    extra = tuple(extra_deny)
    env = {k: v for k, v in environ.items() if k.upper() not in LEAKY and not is_secret(k, extra)}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env
