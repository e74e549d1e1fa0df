"""A restore runs third-party code (pip, build backends): it gets no tokens, passwords or DB URLs."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from jupyter_hybrid.snapshots import restore
from jupyter_hybrid.snapshots.environ import restore_env
from jupyter_hybrid.snapshots.model import Package, Snapshot

SECRETS = {
    "JUPYTERHUB_API_TOKEN": "hub-token-123",
    "JPY_API_TOKEN": "jpy-token-123",
    "JUPYTER_HYBRID_DB_URL": "postgresql+psycopg://hybrid:db-password-123@db/hybrid",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-123",
    "AWS_ACCESS_KEY_ID": "aws-id-123",
    "GITHUB_TOKEN": "gh-token-123",
    "MY_SERVICE_PASSWORD": "pw-123",
    "STRIPE_API_KEY": "stripe-123",
    "JUPYTERHUB_USER": "ann",
}

SETUP_PY = """\
import json, os
from setuptools import setup

with open(os.environ["ENVSPY_OUT"], "w") as f:  # what the build backend sees
    json.dump(dict(os.environ), f)
setup(name="envspy", version="0.1", py_modules=["envspy"])
"""


def make_sdist(folder: Path) -> Path:
    """envspy-0.1.tar.gz: a legacy setup.py sdist that records os.environ when pip builds it."""
    folder.mkdir(parents=True)
    files = {
        "setup.py": SETUP_PY,
        "envspy.py": "VALUE = 1\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: envspy\nVersion: 0.1\n",
    }
    path = folder / "envspy-0.1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"envspy-0.1/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_restore_env_withholds_secrets_and_keeps_what_pip_needs():
    kept = {
        "PATH": "/usr/bin",
        "HOME": "/home/ann",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PIP_INDEX_URL": "https://pypi.example/simple",
        "PIP_EXTRA_INDEX_URL": "file:///opt/pypi/simple",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
        "CUDA_HOME": "/usr/local/cuda",
    }
    leaky = {"PYTHONPATH": "/x", "VIRTUAL_ENV": "/venv", "PIP_TARGET": "/t"}
    env = restore_env({**SECRETS, **kept, **leaky, "CORP_VAULT_ROLE": "r"}, extra_deny=["*VAULT*"])
    assert env == {**kept, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_restore_builds_packages_without_the_servers_secrets(tmp_path, monkeypatch):
    dist = make_sdist(tmp_path / "dist")
    record = tmp_path / "build-env.json"
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENVSPY_OUT", str(record))
    monkeypatch.setenv("NO_PROXY", "internal.example")
    links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(dist.parent)]))
    monkeypatch.setenv("PIP_FIND_LINKS", links)  # pip finds envspy there, as it would on an index
    snap = Snapshot(
        packages=[Package(name="envspy", version="0.1", installer="pip", source="pypi")],
        python={"version": ".".join(map(str, sys.version_info[:3])), "implementation": "CPython"},
        platform={"system": "Linux", "machine": "x86_64"},
        captured_at=datetime.now(UTC),
    )
    result = restore.restore(snap, "envspy", tmp_path / "envs", prefix=tmp_path / "prefix")
    assert {p.name: p.version for p in result.snapshot.packages}["envspy"] == "0.1"

    seen = json.loads(record.read_text())  # written by setup.py, inside pip's build backend
    assert not SECRETS.keys() & seen.keys(), sorted(SECRETS.keys() & seen.keys())
    assert not any(secret in value for value in seen.values() for secret in SECRETS.values())
    assert seen["PATH"] and seen["HOME"] == os.environ["HOME"] and seen["NO_PROXY"] == "internal.example"
    assert str(dist.parent) in seen["PIP_FIND_LINKS"]
