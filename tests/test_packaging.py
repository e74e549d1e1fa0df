"""`pip install .` from a clone builds everything (labextension included); binder/ is usable;
pyproject declares what the code imports and the Python it claims is the one the tests run on."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

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
    # the spawn form's Jinja2 templates
    assert {"form.html", "fields.html", "form.css", "form.js"} <= {
        n.rsplit("/", 1)[1] for n in names if n.startswith("jupyter_hybrid/spawner/templates/")
    }


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


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _imported_top_level_modules() -> set[str]:
    """Every third-party top-level module that jupyter_hybrid's sources import (at any depth)."""
    names = set()
    for path in (ROOT / "jupyter_hybrid").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "jupyter_hybrid"}


def test_every_imported_distribution_is_declared():
    declared = {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        dists = {canonicalize_name(d) for d in owners.get(module, [module])}
        if not dists & declared:
            missing[module] = sorted(dists)
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_kubespawner_is_pinned_below_its_next_major():
    # sites/kubernetes rebinds kubespawner's module internals: a new major may move them
    (req,) = [
        Requirement(r) for r in _project()["dependencies"] if Requirement(r).name == "jupyterhub-kubespawner"
    ]
    installed = importlib.metadata.version("jupyterhub-kubespawner")
    major = int(installed.split(".")[0])
    assert req.specifier.contains(installed)
    assert not req.specifier.contains(f"{major + 1}.0"), req


def test_the_claimed_python_floor_is_the_one_the_tests_run_on():
    claim = SpecifierSet(_project()["requires-python"])
    (floor,) = [s.version for s in claim if s.operator == ">="]
    running = "{}.{}".format(*sys.version_info[:2])
    assert claim.contains(running), (
        f"requires-python {claim} refuses the Python running the tests ({running})"
    )
    assert tuple(map(int, floor.split("."))) == sys.version_info[:2], (
        f"requires-python claims Python {floor}, but the tests ran on {running}: "
        f"run them on {floor} too, or raise the floor"
    )
    # on the floor, the command line imports everything it dispatches to (catalog/profiles/regex.py
    # reads re._parser, which Python 3.10 lacks) and runs
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_hybrid.cli",
            "catalog",
            "validate",
            str(ROOT / "jupyter_hybrid" / "catalog" / "default.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert shutil.which("jupyter-hybrid", path=os.path.dirname(sys.executable))
