"""Restore: a real venv's snapshot recreated as a new venv + kernel; restores that fail leave nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from jupyter_hybrid.snapshots import capture, cli, localstore, restore
from jupyter_hybrid.snapshots.diff import is_empty, render_text
from jupyter_hybrid.snapshots.errors import SnapshotError
from jupyter_hybrid.snapshots.model import Package, Snapshot

PINS = ["six==1.16.0", "idna==3.6", "packaging==23.2"]


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    """The snapshot of a real venv with three small PyPI packages."""
    root = tmp_path_factory.mktemp("restore-src")
    subprocess.run([sys.executable, "-m", "venv", str(root / "env")], check=True)
    python = root / "env" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True, capture_output=True)
    return capture.capture_python(str(python))


def with_packages(snap: Snapshot, replace: dict[str, str]) -> Snapshot:
    """``snap`` with some package versions replaced (a new id)."""
    packages = [p.model_copy(update={"version": replace.get(p.name, p.version)}) for p in snap.packages]
    return Snapshot(**{**snap.model_dump(exclude={"id", "short_id", "packages"}), "packages": packages})


def kernel_dir(prefix: Path, name: str) -> Path:
    return prefix / "share" / "jupyter" / "kernels" / name


def test_restore_recreates_the_environment_as_a_kernel(snap, tmp_path):
    lines: list[str] = []
    envs, prefix = tmp_path / "envs", tmp_path / "prefix"
    result = restore.restore(snap, None, envs, progress=lines.append, prefix=prefix)

    assert result.kernel_name == f"snapshot-{snap.short_id}"
    assert result.display_name == f"Python (snapshot {snap.id[:8]})"
    assert result.env_path == envs / result.kernel_name
    # the packages of the snapshot are all there, at the same versions, from the same sources
    assert is_empty(result.diff), render_text(result.diff)
    assert result.diff["packages"]["added"] == []
    extra = {p["name"].lower() for p in result.diff["packages"]["added_for_kernel"]}
    assert {"ipykernel", "jupyter_client", "pyzmq", "tornado"} <= extra
    assert result.added_for_kernel == result.diff["packages"]["added_for_kernel"]
    restored = {p.name: p for p in result.snapshot.packages}
    assert all(restored[p.name] == p for p in snap.packages)
    # progress: our steps and pip's own lines, as they came
    assert lines[0].startswith("creating venv ") and lines[-1] == "done"
    assert any(line.startswith("Successfully installed") and "six-1.16.0" in line for line in lines)

    spec_file = kernel_dir(prefix, result.kernel_name) / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["argv"][0] == str(result.env_path / "bin" / "python")
    assert spec["display_name"] == result.display_name
    assert spec["metadata"]["jupyter_hybrid"]["snapshot"] == snap.id

    # the kernel starts and runs with the restored packages
    ksm = KernelSpecManager(kernel_dirs=[str(spec_file.parent.parent)], ensure_native_kernel=False)
    km = KernelManager(kernel_name=result.kernel_name, kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    try:
        kc.wait_for_ready(timeout=60)
        code = "import six, idna, sys; print(six.__version__, idna.__version__, sys.prefix)"
        reply = kc.execute_interactive(code, timeout=30, output_hook=hook)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "".join(out).split() == ["1.16.0", "3.6", str(result.env_path)]

    # a second restore under the same name touches nothing
    with pytest.raises(SnapshotError, match="already exists; choose another name"):
        restore.restore(snap, result.kernel_name, envs, prefix=prefix)
    assert spec_file.is_file() and (result.env_path / "bin" / "python").is_file()


def test_a_restore_that_fails_halfway_leaves_nothing_behind(snap, tmp_path):
    broken = with_packages(snap, {"six": "0.0.999"})
    envs, prefix = tmp_path / "envs", tmp_path / "prefix"
    lines: list[str] = []
    with pytest.raises(SnapshotError) as info:
        restore.restore(broken, "broken", envs, progress=lines.append, prefix=prefix)
    message = str(info.value)
    assert message.startswith("pip install failed with exit status 1:")
    assert "six==0.0.999" in message and "ERROR" in message
    assert not (envs / "broken").exists() and list(envs.iterdir()) == []
    assert not kernel_dir(prefix, "broken").exists()
    assert any("restore failed; removing" in line for line in lines)


def test_restore_refuses_bad_names_and_missing_pythons(snap, tmp_path):
    with pytest.raises(SnapshotError, match="kernel name 'no/slashes' is not valid"):
        restore.restore(snap, "no/slashes", tmp_path / "envs", prefix=tmp_path / "p")
    old = Snapshot(
        **{
            **snap.model_dump(exclude={"id", "short_id"}),
            "python": {**snap.python.model_dump(), "version": "2.9.1"},
        }
    )
    with pytest.raises(
        SnapshotError, match=r"^Python 2.9 is not installed here; install it \(python2.9 on PATH\)"
    ):
        restore.restore(old, "old", tmp_path / "envs", prefix=tmp_path / "p")
    assert not (tmp_path / "envs").exists() and not (tmp_path / "p").exists()


def conda_snapshot(snap: Snapshot) -> Snapshot:
    packages = [
        Package(name="python", version=snap.python.version, installer="conda", source="conda:conda-forge"),
        Package(name="pip", version="24.0", installer="conda", source="conda:conda-forge"),
        Package(name="six", version="1.16.0", installer="conda", source="conda:conda-forge"),
        Package(name="idna", version="3.6", installer="pip", source="pypi"),
    ]
    return Snapshot(**{**snap.model_dump(exclude={"id", "short_id"}), "packages": packages})


@pytest.mark.skipif(bool(shutil.which("conda") or shutil.which("mamba")), reason="conda is installed here")
def test_conda_restore_without_conda_says_so(snap, tmp_path):
    with pytest.raises(SnapshotError, match="is a conda environment and conda is not installed here"):
        restore.restore(conda_snapshot(snap), "c", tmp_path / "envs", prefix=tmp_path / "p")
    assert not (tmp_path / "envs").exists() and not (tmp_path / "p").exists()


@pytest.mark.skipif(not (shutil.which("conda") or shutil.which("mamba")), reason="needs conda on PATH")
def test_conda_restore(snap, tmp_path):
    result = restore.restore(conda_snapshot(snap), "c", tmp_path / "envs", prefix=tmp_path / "p")
    restored = {p.name: p for p in result.snapshot.packages}
    assert restored["six"].source.startswith("conda:") and restored["idna"].installer == "pip"
    assert not result.diff["packages"]["removed"], render_text(result.diff)


def test_cli_restore(snap, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{tmp_path / 'store' / 'hybrid.sqlite'}")
    broken = with_packages(snap, {"idna": "0.0.999"})
    localstore.save(broken)
    argv = ["snapshot", "restore", broken.id[:8], "--name", "cli-broken"]
    code = cli.main([*argv, "--envs-dir", str(tmp_path / "envs"), "--prefix", str(tmp_path / "p")])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("error: pip install failed with exit status 1: ") and err.count("\n") == 1
    assert "idna==0.0.999" in err and "Traceback" not in err
    assert not (tmp_path / "envs" / "cli-broken").exists()


def test_render_shows_what_was_added_for_the_kernel_apart(snap):
    d = {"a": snap.id, "b": snap.id, "packages": {"added": [], "removed": [], "changed": []}, "changes": {}}
    d["packages"]["added_for_kernel"] = [
        {"name": "ipykernel", "version": "7", "installer": "pip", "source": "pypi"}
    ]
    text = render_text(d)
    assert (
        "no differences" in text and "added to run the kernel (not in the snapshot):\n+ ipykernel 7" in text
    )
    assert is_empty(d)
