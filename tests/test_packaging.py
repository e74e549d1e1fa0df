"""`pip install .` from a clone builds everything (labextension included); binder/ is usable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import yaml

from .hubtools import ROOT


def test_wheel_from_a_clone_carries_the_labextension_and_server_config(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # the working tree's current files, committed or not, as a newcomer's clone would hold them
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), "."],
        cwd=clone,
        check=True,
        env=env,
    )
    (wheel,) = (tmp_path / "dist").glob("jupyter_hybrid-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert "share/jupyter/labextensions/jupyter-hybrid/package.json" in data
    assert "share/jupyter/labextensions/jupyter-hybrid/install.json" in data
    assert any(n.startswith("share/jupyter/labextensions/jupyter-hybrid/static/remoteEntry.") for n in data)
    assert "etc/jupyter/jupyter_server_config.d/jupyter_hybrid.json" in data
    assert "jupyter_hybrid/catalog/default.yaml" in names


def test_binder_follows_repo2docker_rules():
    binder = ROOT / "binder"
    env = yaml.safe_load((binder / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("python") for d in deps) and any(d.startswith("nodejs") for d in deps)
    assert "pip" in deps
    # with environment.yml, repo2docker ignores requirements.txt and runtime.txt: keep none
    assert not (binder / "requirements.txt").exists() and not (binder / "runtime.txt").exists()
    post = binder / "postBuild"
    assert os.access(post, os.X_OK)
    assert "pip install --no-cache-dir ." in post.read_text()
