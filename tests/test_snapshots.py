"""Snapshots: real capture of a real venv made here, diff, export (checked by repo2docker), notebook, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_client.kernelspec import KernelSpecManager
from pydantic import ValidationError

from jupyter_hybrid.snapshots import capture, cli, export, localstore
from jupyter_hybrid.snapshots.diff import diff, is_empty, render_text
from jupyter_hybrid.snapshots.errors import NotFound, SnapshotError
from jupyter_hybrid.snapshots.model import Package, Snapshot

PINS = ["six==1.16.0", "idna==3.6", "packaging==23.2", "wheel==0.43.0"]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]


def run(*cmd, cwd=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def pip(python, *args):
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args)


def make_project(folder: Path, name: str) -> Path:
    """A tiny setuptools project ``name`` 0.1 with one module."""
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["setuptools>=64", "wheel"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
        f'[tool.setuptools]\npy-modules = ["{name.replace("-", "_")}"]\n'
    )
    (folder / f"{name.replace('-', '_')}.py").write_text("VALUE = 1\n")
    return folder


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A real venv: 4 PyPI pins, an editable project, a local folder install and a git (VCS) install."""
    root = tmp_path_factory.mktemp("snapvenv")
    run(sys.executable, "-m", "venv", root / "env")
    python = root / "env" / "bin" / "python"
    pip(python, *PINS)
    editable = make_project(root / "src" / "hybrid-demo-editable", "hybrid-demo-editable")
    local = make_project(root / "src" / "hybrid-demo-local", "hybrid-demo-local")
    repo = make_project(root / "src" / "hybrid-demo-vcs", "hybrid-demo-vcs")
    run(*GIT, "init", "-q", repo)
    run(*GIT, "-C", repo, "add", ".")
    run(*GIT, "-C", repo, "commit", "-q", "-m", "v0.1")
    commit = run("git", "-C", repo, "rev-parse", "HEAD").strip()
    pip(python, "--no-build-isolation", "-e", editable, local, f"git+{repo.as_uri()}@{commit}")
    return {"python": str(python), "root": root, "editable": editable, "repo": repo, "commit": commit}


@pytest.fixture(scope="module")
def before(venv):
    return capture.capture_python(venv["python"])


def by_name(snap: Snapshot) -> dict[str, Package]:
    return {p.name: p for p in snap.packages}


# -- capture -----------------------------------------------------------------------------------


def test_capture_reads_every_package_with_installer_and_source(venv, before):
    pkgs = by_name(before)
    for pin in PINS:
        name, version = pin.split("==")
        assert pkgs[name] == Package(name=name, version=version, installer="pip", source="pypi")
    assert pkgs["hybrid-demo-editable"].source == f"editable:{venv['editable']}"
    assert pkgs["hybrid-demo-local"].source == "local"
    assert pkgs["hybrid-demo-vcs"].source == f"vcs:git+{venv['repo'].as_uri()}@{venv['commit']}"
    assert {"pip", "setuptools"} <= pkgs.keys()  # what `python -m venv` put there
    assert [p.name.lower() for p in before.packages] == sorted(p.name.lower() for p in before.packages)
    assert before.python.version == ".".join(map(str, sys.version_info[:3]))
    assert before.python.executable == venv["python"]
    assert before.python.prefix == str(Path(venv["python"]).parent.parent)
    assert before.platform.system and before.platform.machine
    assert len(before.id) == 64 and before.short_id == before.id[:12]


def test_same_environment_twice_same_id(venv, before):
    again = capture.capture_python(venv["python"], name="second", note="same env")
    assert again.id == before.id
    assert again.captured_at > before.captured_at


def test_upgrade_shows_exactly_that_change_and_downgrade_restores_the_id(venv, before):
    pip(venv["python"], "idna==3.7")
    try:
        after = capture.capture_python(venv["python"])
        d = diff(before, after)
        assert d["packages"] == {
            "added": [],
            "removed": [],
            "changed": [
                {
                    "name": "idna",
                    "old": "3.6",
                    "new": "3.7",
                    "old_installer": "pip",
                    "new_installer": "pip",
                    "old_source": "pypi",
                    "new_source": "pypi",
                }
            ],
        }
        assert d["changes"] == {} and not is_empty(d) and after.id != before.id
        assert "~ idna 3.6 -> 3.7" in render_text(d).splitlines()
    finally:
        pip(venv["python"], "idna==3.6")
    assert capture.capture_python(venv["python"]).id == before.id


def test_capture_errors_say_what_to_do(tmp_path):
    with pytest.raises(NotFound, match="interpreter '/no/such/python' not found"):
        capture.capture_python("/no/such/python")
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'boom: no python here' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(
        SnapshotError, match=r"exit status 3\): boom: no python here; check that it is a working"
    ):
        capture.capture_python(str(broken))
    with pytest.raises(NotFound, match="is a folder; give its interpreter"):
        capture.capture_python(str(Path(sys.executable).parent.parent))


def test_probe_reads_conda_meta_and_keeps_pip_packages_of_a_conda_env(tmp_path):
    """A conda-shaped prefix: conda-meta records own one dist-info; a pip-installed one stays pip."""
    run(sys.executable, "-m", "venv", "--without-pip", tmp_path / "env")
    python = tmp_path / "env" / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    for name, version, installer in [("numpy", "1.26.4", "conda"), ("requests", "2.31.0", "pip")]:
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nlong text\n"
        )
        (info / "INSTALLER").write_text(f"{installer}\n")
    meta = tmp_path / "env" / "conda-meta"
    meta.mkdir()
    rel = site.relative_to(tmp_path / "env")
    records = [
        ("numpy", "1.26.4", "py311h64a7726_0", [f"{rel}/numpy-1.26.4.dist-info/METADATA"]),
        ("python", "3.11.7", "hab00c5b_1_cpython", ["bin/python3.11"]),
        ("libzlib", "1.2.13", "hd590300_5", ["lib/libz.so.1"]),
    ]
    for name, version, build, files in records:
        record = {
            "name": name,
            "version": version,
            "build": build,
            "channel": "https://conda.anaconda.org/conda-forge/linux-64",
            "subdir": "linux-64",
            "files": files,
        }
        (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
    snap = capture.capture_python(str(python))
    got = {p.name: (p.version, p.installer, p.source) for p in snap.packages}
    assert got == {
        "libzlib": ("1.2.13", "conda", "conda:conda-forge"),
        "numpy": ("1.26.4", "conda", "conda:conda-forge"),
        "python": ("3.11.7", "conda", "conda:conda-forge"),
        "requests": ("2.31.0", "pip", "pypi"),
    }
    assert snap.is_conda


def test_package_source_from_direct_url():
    src = capture.package_source
    assert src("pip", None) == "pypi"
    assert src("uv", None) == "pypi"
    assert src("unknown", None) == "local"
    assert src("pip", {"url": "file:///w/x", "dir_info": {"editable": True}}) == "editable:/w/x"
    assert src("pip", {"url": "file:///w/x", "dir_info": {}}) == "local"
    assert src("pip", {"url": "https://h/x-1.whl", "archive_info": {}}) == "url:https://h/x-1.whl"
    vcs = {"url": "https://g/r.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}, "subdirectory": "py"}
    assert src("pip", vcs) == "vcs:git+https://g/r.git@abc#subdirectory=py"


def test_kernel_python_follows_jupyter_client():
    assert capture.kernel_python("python") == sys.executable
    assert capture.kernel_python(f"python{sys.version_info[0]}") == sys.executable
    assert capture.kernel_python(sys.executable) == sys.executable
    with pytest.raises(NotFound):
        capture.kernel_python("{no-such-python-here}")


def test_hub_context_and_gpu():
    assert capture.hub_info({}) is None
    hub = capture.hub_info({"JUPYTER_HYBRID_TIER": "gpu-1", "JUPYTER_IMAGE_SPEC": "quay.io/x/y:1"})
    assert hub.tier == "gpu-1" and hub.image == "quay.io/x/y:1" and hub.site is None
    gpu = capture.gpu_info()
    assert gpu is None or gpu.driver_version  # None exactly when NVML finds no driver


@pytest.mark.gpu
def test_gpu_info_on_a_gpu_machine():
    gpu = capture.gpu_info()
    if gpu is None:
        pytest.skip("no NVIDIA driver here")
    assert gpu.driver_version and gpu.cuda_version and gpu.models


# -- kernels and notebooks ---------------------------------------------------------------------


@pytest.fixture
def kernels(tmp_path, venv):
    """A KernelSpecManager over a temp folder holding kernel 'snapvenv' (the venv) and 'ir' (R)."""
    folder = tmp_path / "kernels"
    for name, argv, language in [
        ("snapvenv", [venv["python"], "-m", "ipykernel_launcher", "-f", "{connection_file}"], "python"),
        ("ir", ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"], "R"),
    ]:
        (folder / name).mkdir(parents=True)
        spec = {"argv": argv, "display_name": f"{name} kernel", "language": language, "env": {"X_SNAP": "1"}}
        (folder / name / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


def test_capture_kernel_records_the_kernelspec(kernels, before):
    snap = capture.capture_kernel("snapvenv", kernel_spec_manager=kernels)
    assert snap.id == before.id
    assert snap.kernelspec.name == "snapvenv" and snap.kernelspec.language == "python"
    assert snap.kernelspec.argv[0] == snap.python.executable
    with pytest.raises(NotFound, match=r"no kernel named 'nope'; installed kernels: ir, snapvenv"):
        capture.capture_kernel("nope", kernel_spec_manager=kernels)
    with pytest.raises(SnapshotError, match="runs R; snapshots capture Python kernels only"):
        capture.capture_kernel("ir", kernel_spec_manager=kernels)


def make_notebook(path: Path, kernel: str | None = "snapvenv") -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import six")])
    if kernel:
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_capture_notebook_records_git_and_writes_the_id(tmp_path, kernels, before):
    root = tmp_path / "root"
    nb_path = make_notebook(root / "work" / "analysis.ipynb")
    run(*GIT, "init", "-q", root)
    run(*GIT, "-C", root, "add", ".")
    run(*GIT, "-C", root, "commit", "-q", "-m", "nb")
    head = run("git", "-C", root, "rev-parse", "HEAD").strip()

    snap = capture.capture_notebook("work/analysis.ipynb", root, name="nb", kernel_spec_manager=kernels)
    assert snap.id == before.id and snap.name == "nb"
    assert snap.git.root == str(root.resolve()) and snap.git.commit == head and snap.git.dirty is False
    nb = nbformat.read(nb_path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["jupyter_hybrid"]["snapshot"] == snap.id
    assert nb.cells[0].source == "import six"
    # the notebook now differs from HEAD: the next capture says so, and leaves the file as it is
    mtime = nb_path.stat().st_mtime_ns
    again = capture.capture_notebook(nb_path, root, kernel_spec_manager=kernels)
    assert again.git.dirty is True and again.id == snap.id and nb_path.stat().st_mtime_ns == mtime


def test_capture_notebook_refuses_paths_outside_the_root(tmp_path, kernels):
    root = tmp_path / "root"
    root.mkdir()
    outside = make_notebook(tmp_path / "outside.ipynb")
    (root / "link.ipynb").symlink_to(outside)
    for path in ["../outside.ipynb", str(outside), "link.ipynb"]:
        with pytest.raises(ValueError, match="is outside the server root .*; give a path inside it"):
            capture.capture_notebook(path, root, kernel_spec_manager=kernels)
    assert "jupyter_hybrid" not in nbformat.read(outside, as_version=4).metadata
    with pytest.raises(NotFound, match="not found under"):
        capture.capture_notebook("missing.ipynb", root, kernel_spec_manager=kernels)
    make_notebook(root / "nokernel.ipynb", kernel=None)
    with pytest.raises(SnapshotError, match="names no kernel in its metadata"):
        capture.capture_notebook("nokernel.ipynb", root, kernel_spec_manager=kernels)
    (root / "bad.ipynb").write_text("{not json")
    with pytest.raises(SnapshotError, match="is not a readable notebook"):
        capture.capture_notebook("bad.ipynb", root, kernel_spec_manager=kernels)


# -- model and diff ----------------------------------------------------------------------------


def make_snapshot(packages, python="3.11.7", **extra) -> Snapshot:
    return Snapshot(
        packages=[Package(name=n, version=v, installer=i, source=s) for n, v, i, s in packages],
        python={
            "version": python,
            "implementation": "CPython",
            "executable": "/x/bin/python",
            "prefix": "/x",
        },
        platform={"system": "Linux", "machine": "x86_64", "libc": "glibc 2.36", "release": "6.1"},
        captured_at=datetime.now(UTC),
        **extra,
    )


def test_id_covers_the_environment_only():
    pkgs = [("six", "1.16.0", "pip", "pypi")]
    base = make_snapshot(pkgs)
    same = make_snapshot(
        pkgs,
        name="n",
        note="t",
        git={"root": "/r", "commit": "abc", "dirty": True},
        hub={"tier": "gpu-1", "site": "local", "environment": "default"},
        kernelspec={"name": "k"},
    )
    assert same.id == base.id
    assert make_snapshot(pkgs, hub={"image": "img:1"}).id != base.id
    assert make_snapshot(pkgs, gpu={"driver_version": "550.54", "cuda_version": "12.4"}).id != base.id
    assert make_snapshot(pkgs, python="3.11.8").id != base.id
    assert make_snapshot([("six", "1.16.0", "pip", "local")]).id != base.id
    data = base.model_dump(mode="json")
    assert Snapshot.model_validate({**data, "owner": "ann", "shared": False}).id == base.id  # store fields
    data["packages"][0]["version"] = "1.17.0"
    with pytest.raises(ValidationError, match="does not match its content"):
        Snapshot.model_validate(data)
    with pytest.raises(ValidationError, match="unknown package source 'github'"):
        Package(name="x", version="1", installer="pip", source="github")


def test_diff_reports_packages_and_environment_changes():
    a = make_snapshot(
        [
            ("six", "1.16.0", "pip", "pypi"),
            ("requests", "2.31.0", "pip", "pypi"),
            ("foo", "1.0", "pip", "pypi"),
        ],
        gpu={"driver_version": "535.1", "cuda_version": "12.2"},
    )
    b = make_snapshot(
        [
            ("numpy", "2.1.0", "pip", "pypi"),
            ("requests", "2.32.3", "pip", "pypi"),
            ("foo", "1.0", "pip", "local"),
        ],
        python="3.12.1",
        gpu={"driver_version": "550.54", "cuda_version": "12.4"},
        hub={"image": "img:2"},
    )
    d = diff(a, b)
    assert [p["name"] for p in d["packages"]["added"]] == ["numpy"]
    assert [p["name"] for p in d["packages"]["removed"]] == ["six"]
    assert d["changes"] == {
        "python": {"old": "3.11.7", "new": "3.12.1"},
        "driver": {"old": "535.1", "new": "550.54"},
        "cuda": {"old": "12.2", "new": "12.4"},
        "image": {"old": None, "new": "img:2"},
    }
    lines = render_text(d).splitlines()
    assert lines[2:] == [
        "python 3.11.7 -> 3.12.1",
        "driver 535.1 -> 550.54",
        "cuda 12.2 -> 12.4",
        "image (none) -> img:2",
        "~ foo 1.0 (source pypi -> local)",
        "+ numpy 2.1.0",
        "~ requests 2.31.0 -> 2.32.3",
        "- six 1.16.0",
    ]
    assert json.loads(json.dumps(d)) == d
    same = diff(a, a)
    assert is_empty(same) and "no differences" in render_text(same)


def test_diff_of_two_300_package_snapshots_is_fast():
    a = make_snapshot([(f"pkg-{i}", "1.0", "pip", "pypi") for i in range(300)])
    b = make_snapshot([(f"pkg-{i}", "1.1" if i % 10 == 0 else "1.0", "pip", "pypi") for i in range(5, 305)])
    start = time.perf_counter()
    d = diff(a, b)
    render_text(d)
    elapsed = time.perf_counter() - start
    pkgs = d["packages"]
    assert (len(pkgs["added"]), len(pkgs["removed"]), len(pkgs["changed"])) == (5, 5, 29)
    assert elapsed < 0.05, f"diff took {elapsed * 1000:.1f} ms"


# -- export, checked against repo2docker's rules -----------------------------------------------


def repo2docker_build(repo: Path, monkeypatch):
    """The buildpack repo2docker picks for ``repo`` and the Dockerfile it renders (no docker needed)."""
    app = pytest.importorskip("repo2docker.app").Repo2Docker()
    monkeypatch.chdir(repo)
    bp = next(bp for bp in (BP(base_image=app.base_image) for BP in app.buildpacks) if bp.detect())
    bp.platform = "linux/amd64"
    return bp, bp.render()


def test_export_binder_for_a_pip_environment(tmp_path, venv, before, monkeypatch):
    written = export.export_binder(before, tmp_path / "repo" / "binder")
    binder = tmp_path / "repo" / "binder"
    assert sorted(p.name for p in written) == ["requirements.txt", "runtime.txt"]
    assert sorted(p.name for p in binder.iterdir()) == [
        "requirements.txt",
        "runtime.txt",
    ]  # no environment.yml
    assert (binder / "runtime.txt").read_text() == "python-{}.{}\n".format(*sys.version_info[:2])
    lines = (binder / "requirements.txt").read_text().splitlines()
    reqs = [line for line in lines if not line.startswith("#")]
    assert reqs == [
        "idna==3.6",
        "packaging==23.2",
        f"setuptools=={by_name(before)['setuptools'].version}",
        "six==1.16.0",
        "wheel==0.43.0",
    ]  # every line pinned; pip itself left out
    assert f"# hybrid-demo-editable==0.1 left out: installed editable from {venv['editable']}" in lines
    assert "# hybrid-demo-local==0.1 left out: installed from a local file or by 'pip'" in lines
    vcs = f"git+{venv['repo'].as_uri()}@{venv['commit']}"
    assert f"# hybrid-demo-vcs==0.1 left out: installed from {vcs}, a local path" in lines
    with pytest.raises(SnapshotError, match="is not an empty folder"):
        export.export_binder(before, binder)

    bp, dockerfile = repo2docker_build(tmp_path / "repo", monkeypatch)
    assert type(bp).__name__ == "PythonBuildPack" and bp.binder_dir == "binder"
    assert bp.python_version == "{}.{}".format(*sys.version_info[:2])
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile


def test_requirements_install_into_a_fresh_venv(tmp_path, before):
    """The exported pins are what pip installs (the local-only packages are left out)."""
    run(sys.executable, "-m", "venv", tmp_path / "env")
    python = tmp_path / "env" / "bin" / "python"
    (tmp_path / "requirements.txt").write_text(export.export_requirements(before))
    pip(python, "-r", tmp_path / "requirements.txt")
    d = diff(before, capture.capture_python(str(python)))
    assert [p["name"] for p in d["packages"]["removed"]] == [
        "hybrid-demo-editable",
        "hybrid-demo-local",
        "hybrid-demo-vcs",
    ]
    assert d["packages"]["added"] == [] and d["packages"]["changed"] == [] and d["changes"] == {}


CONDA_PACKAGES = [
    ("python", "3.11.7", "conda", "conda:conda-forge"),
    ("numpy", "1.26.4", "conda", "conda:conda-forge"),
    ("pip", "24.0", "conda", "conda:conda-forge"),
    ("mkl", "2023.1.0", "conda", "conda:pkgs/main"),
    ("requests", "2.31.0", "pip", "pypi"),
    ("tool", "0.3", "pip", "vcs:git+https://example.org/tool.git@0123abcd"),
    ("mine", "0.1", "pip", "editable:/home/me/mine"),
]


def test_export_binder_for_a_conda_environment(tmp_path, monkeypatch):
    snap = make_snapshot(CONDA_PACKAGES)
    export.export_binder(snap, tmp_path / "repo" / "binder", apt_packages=["libgl1"])
    binder = tmp_path / "repo" / "binder"
    # environment.yml only: repo2docker would ignore requirements.txt and runtime.txt beside it
    assert sorted(p.name for p in binder.iterdir()) == ["apt.txt", "environment.yml"]
    assert (binder / "apt.txt").read_text() == "libgl1\n"
    text = (binder / "environment.yml").read_text()
    assert "# mine==0.1 left out: installed editable from /home/me/mine" in text
    env = yaml.safe_load(text)
    assert env["channels"] == ["conda-forge", "pkgs/main"]
    assert env["dependencies"] == [
        "mkl=2023.1.0",
        "numpy=1.26.4",
        "pip=24.0",
        "python=3.11.7",
        {"pip": ["requests==2.31.0", "tool @ git+https://example.org/tool.git@0123abcd"]},
    ]
    reqs = export.export_requirements(snap)
    assert "requests==2.31.0" in reqs and "numpy" not in reqs.replace("# 4 conda", "")
    assert "# 4 conda package(s) left out: export with --format binder for environment.yml" in reqs

    bp, dockerfile = repo2docker_build(tmp_path / "repo", monkeypatch)
    assert type(bp).__name__ == "CondaBuildPack"
    assert bp.python_version == "3.11"
    assert "binder/environment.yml" in dockerfile and "requirements.txt" not in dockerfile.replace(
        'requirements.txt"', ""
    ).replace("/tmp/env/requirements.txt", "")


def test_zip_binder_has_a_binder_folder_and_is_reproducible(before):
    data = export.zip_binder(before)
    with zipfile.ZipFile(BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["binder/requirements.txt", "binder/runtime.txt"]
        assert zf.read("binder/requirements.txt").decode() == export.export_requirements(before)
    assert export.zip_binder(before) == data


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{folder / 'hybrid.sqlite'}")
    return folder


def cli_run(capsys, *argv):
    code = cli.main(["snapshot", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_capture_json_saves_and_diff(venv, before, store, capsys):
    code, out, err = cli_run(capsys, "capture", "--python", venv["python"], "--json", "--name", "base")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["id"] == before.id and doc["name"] == "base"
    assert {"name": "six", "version": "1.16.0", "installer": "pip", "source": "pypi"} in doc["packages"]
    assert (store / "hybrid.sqlite").is_file()
    assert localstore.load(before.id[:6]).id == before.id

    other = make_snapshot([("six", "1.17.0", "pip", "pypi")])
    other_file = store.parent / "other.json"
    store.mkdir(exist_ok=True)
    other_file.write_text(other.model_dump_json())
    code, out, _ = cli_run(capsys, "diff", before.id[:8], str(other_file), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["a"] == before.id and d["b"] == other.id
    assert d["packages"]["changed"][0]["name"] == "six"
    code, out, _ = cli_run(capsys, "diff", before.id[:8], before.id)
    assert code == 0 and "no differences" in out

    code, out, _ = cli_run(capsys, "capture", "--python", venv["python"])
    assert code == 0 and out.startswith(f"snapshot {before.short_id}: Python") and "saved to" in out
    code, out, _ = cli_run(capsys, "list")
    assert code == 0 and before.short_id in out


def test_cli_export(before, store, tmp_path, capsys):
    localstore.save(before)
    code, out, _ = cli_run(
        capsys, "export", before.id[:10], "--format", "binder", "--out", str(tmp_path / "b")
    )
    assert code == 0 and (tmp_path / "b" / "requirements.txt").is_file()
    code, out, _ = cli_run(capsys, "export", before.id[:10], "--format", "requirements")
    assert code == 0 and "six==1.16.0" in out.splitlines()
    code, _, err = cli_run(
        capsys, "export", before.id[:10], "--format", "binder", "--out", str(tmp_path / "b")
    )
    assert code == 1 and err.startswith("error: ") and "not an empty folder" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["capture", "--python", "/no/such/python"], "interpreter '/no/such/python' not found"),
        (["capture", "--kernel", "no-such-kernel-x"], "no kernel named 'no-such-kernel-x'"),
        (["diff", "abcd1234", "abcd5678"], "no snapshot 'abcd1234'"),
        (["diff", "xyz", "abcd"], "'xyz' is not a snapshot id"),
        (["export", "abcd1234", "--out", "/tmp/never"], "no snapshot 'abcd1234'"),
        (["restore", "abcd1234", "--name", "k"], "no snapshot 'abcd1234'"),
    ],
)
def test_cli_errors_are_one_line(argv, message, store, capsys):
    code, out, err = cli_run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_ambiguous_prefix(store, capsys):
    seen: dict[str, Snapshot] = {}
    for i in range(5000):  # deterministic ids: find two sharing their first 4 hex characters
        snap = make_snapshot([("p", str(i), "pip", "pypi")])
        if snap.id[:4] in seen:
            break
        seen[snap.id[:4]] = snap
    localstore.save(snap)
    localstore.save(seen[snap.id[:4]])
    code, _, err = cli_run(capsys, "diff", snap.id[:4], snap.id)
    assert code == 1 and f"'{snap.id[:4]}' matches 2 snapshots" in err and "give more characters" in err
    code, out, _ = cli_run(capsys, "diff", snap.id[:5], snap.id)
    assert code == 0 and "no differences" in out


def test_cli_as_a_process_exits_nonzero_without_traceback(tmp_path):
    url = f"sqlite:///{tmp_path / 'hybrid.sqlite'}"
    env = {**os.environ, "JUPYTER_HYBRID_DB_URL": url}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_hybrid.snapshots.cli", "snapshot", "diff", "abcd", "dcba"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and proc.stderr == f"error: no snapshot 'abcd' in {url}\n"
