"""``jupyter hybrid placement explain``: through the installed command and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_hybrid.cli import main

ROOT = Path(__file__).parent.parent
JUPYTER = str(Path(sys.executable).parent / "jupyter")

CATALOG = {
    "sites": {
        "onprem": {"kind": "kubernetes", "region": "eu-fra"},
        "cloud-eu": {
            "kind": "kubernetes",
            "region": "eu-west-1",
            "on_prem": False,
            "cost_per_hour": 3.5,
            "prices": {"a100": 2.9},
        },
        "cloud-us": {"kind": "kubernetes", "region": "us-east-1", "on_prem": False, "cost_per_hour": 2.0},
    },
    "tiers": {
        "small": {"cpu": 1, "memory": "2G", "default": True},
        "a100": {"cpu": 8, "memory": "32G", "gpu": 2, "gpu_model": "A100", "groups": ["ml"]},
    },
    # kubernetes sites run images: the hub (and so explain) leaves an imageless environment out
    "environments": {"lab": {"image": "quay.io/jupyter/scipy-notebook", "default": True}},
    "datasets": {
        "claims": {
            "regions": ["eu-*"],
            "locations": {
                "onprem": {"pvc": "claims"},
                "cloud-eu": {"url": "s3://eu/c"},
                "cloud-us": {"url": "s3://us/c"},
            },
        }
    },
    "quotas": {"per_user": {"gpus": 4}},
}
A100 = "NVIDIA A100-SXM4-80GB"
FULL = {
    "onprem": {"cpu_total": 64, "memory_total": 2**40, "gpus_total": {A100: 8}, "gpus_free": {A100: 0}},
    "cloud-eu": {"cpu_total": 64, "memory_total": 2**40, "gpus_total": {A100: 8}},
    "cloud-us": {"cpu_total": 64, "memory_total": 2**40, "gpus_total": {A100: 8}},
}


@pytest.fixture
def files(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(CATALOG, sort_keys=False))
    state = tmp_path / "state.json"
    state.write_text(json.dumps(FULL))
    return catalog, state, tmp_path


def run(*args, env=None):
    return subprocess.run(
        [JUPYTER, "hybrid", "placement", "explain", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_json_contract_through_the_command(files):
    catalog, state, _ = files
    out = run(
        "--catalog",
        catalog,
        "--state",
        state,
        "--user",
        "alice",
        "--group",
        "ml",
        "--tier",
        "a100",
        "--dataset",
        "claims",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert decision["site"] == "cloud-eu"
    assert decision["ranked"] == ["cloud-eu"]
    assert decision["price"] == 2.9 and decision["wait_seconds"] is None
    assert decision["reasons"] == [
        "onprem full (8/8 A100); cloud-eu chosen: cheapest cloud site with capacity, "
        "2.9 per hour, region eu-west-1",
        "onprem: needs 2 A100 GPUs; 0 free on onprem",
        "cloud-us: dataset 'claims' may only be processed in eu-*; cloud-us is in us-east-1",
    ]


def test_not_placeable_exits_1_with_reasons(files):
    catalog, state, tmp = files
    wrapped = tmp / "wrapped.json"
    wrapped.write_text(json.dumps({"sites": FULL, "usage": {"users": {"alice": {"gpus": 4, "cpu": 8}}}}))
    out = run(
        "--catalog",
        catalog,
        "--state",
        wrapped,
        "--user",
        "alice",
        "--group",
        "ml",
        "--tier",
        "a100",
        "--json",
    )
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout) == {
        "site": None,
        "reasons": ["quota: you use 4 of 4 GPUs; this tier needs 2"],
    }
    # bob holds nothing: the same state places him
    out = run(
        "--catalog", catalog, "--state", wrapped, "--user", "bob", "--group", "ml", "--tier", "a100", "--json"
    )
    assert out.returncode == 0 and json.loads(out.stdout)["site"] == "cloud-us"


def test_readable_output(files):
    catalog, state, _ = files
    out = run("--catalog", catalog, "--state", state, "--user", "alice", "--group", "ml", "--tier", "a100")
    assert out.returncode == 0, out.stderr
    assert "Placed on cloud-us (2 per hour, starts now)" in out.stdout
    assert "Why: onprem full (8/8 A100); cloud-us chosen" in out.stdout
    assert "Ranked: cloud-us, cloud-eu" in out.stdout
    out = run("--catalog", catalog, "--state", state, "--user", "alice", "--tier", "a100")
    assert out.returncode == 1
    assert "Cannot be placed:\n  - tier 'a100' is limited to group(s) ml; you are in no group" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tier", "nope"], "unknown tier 'nope'. Fix: use one of small, a100"),
        (["--tier", "small", "--environment", "gpu"], "unknown environment 'gpu'. Fix: use one of lab"),
        (["--tier", "small", "--state", "missing.json"], "missing.json: cannot read the state file"),
        (["--tier", "small", "--state", "bad.json"], "bad.json: not valid JSON at line 1, column 2"),
        (
            ["--tier", "small", "--state", "typo.json"],
            "sites.onprem: unknown key 'gpu_free'. Fix: did you mean 'gpus_free'?",
        ),
        (
            ["--tier", "small", "--state", "site.json"],
            "sites.mars: no such site in the catalog. Fix: use one of onprem",
        ),
        (
            ["--tier", "small", "--state", "type.json"],
            "sites.onprem.cpu_total: Input should be a valid number",
        ),
        (["--tier", "small", "--state", "usage.json"], "usage.users.alice: unknown key 'gpu'"),
    ],
)
def test_bad_input_exits_2_naming_the_fix(files, args, message, capsys):
    catalog, _, tmp = files
    (tmp / "bad.json").write_text("{,}")
    (tmp / "typo.json").write_text(json.dumps({"onprem": {"gpu_free": {}}}))
    (tmp / "site.json").write_text(json.dumps({"mars": {}}))
    (tmp / "type.json").write_text(json.dumps({"onprem": {"cpu_total": "lots"}}))
    (tmp / "usage.json").write_text(json.dumps({"sites": {}, "usage": {"users": {"alice": {"gpu": 1}}}}))
    args = [str(tmp / a) if a.endswith(".json") else a for a in args]
    code = main(["placement", "explain", "--catalog", str(catalog), "--user", "alice", *args])
    out = capsys.readouterr()
    assert code == 2
    assert message in out.err
    assert out.out == ""


def test_bad_input_through_the_command(files):
    catalog, _, _ = files
    out = run("--catalog", catalog, "--user", "alice", "--tier", "nope")
    assert out.returncode == 2
    assert "unknown tier 'nope'. Fix: use one of small, a100" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    out = run("--catalog", catalog, "--tier", "small")  # argparse: a required option missing
    assert out.returncode == 2 and "--user" in out.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ["--tier", "t" * 100_000],  # about the most one argument may hold on Linux (128 KiB)
        ["--tier", "small", "--environment", "e" * 100_000],
        ["--tier", "small", "--dataset", "claims", "--dataset", "d" * 100_000],
        ["--tier", "small", "--group", "g" * 100_000],
    ],
)
def test_overlong_names_are_refused_first_and_quoted_short(files, flags):
    catalog, _, _ = files
    out = run("--catalog", catalog, "--state", "/nonexistent.json", "--user", "alice", *flags)
    assert out.returncode == 2 and out.stdout == ""
    assert "characters long. Fix: give a name of at most" in out.stderr, out.stderr[:300]
    assert "…" in out.stderr and len(out.stderr) < 300  # checked before the state file is read


def test_bad_catalog_exits_2(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("sites: {}\n")
    out = run("--catalog", bad, "--user", "a", "--tier", "small")
    assert out.returncode == 2 and str(bad) in out.stderr


def test_in_process_defaults_and_live_local_site(files, capsys, monkeypatch):
    catalog, state, _ = files
    # the state file may omit free figures (idle site) and name/kind/region (from the catalog)
    code = main(
        [
            "placement",
            "explain",
            "--catalog",
            str(catalog),
            "--state",
            str(state),
            "--user",
            "u",
            "--tier",
            "small",
            "--json",
        ]
    )
    assert code == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["site"] == "onprem" and decision["price"] == 0
    # no --catalog: $JUPYTER_HYBRID_CATALOG; no --state: live sites (the packaged catalog is this machine)
    monkeypatch.setenv("JUPYTER_HYBRID_CATALOG", str(ROOT / "jupyter_hybrid" / "catalog" / "default.yaml"))
    code = main(["placement", "explain", "--user", "u", "--tier", "small", "--json"])
    decision = json.loads(capsys.readouterr().out)
    assert code == 0 and decision["site"] == "local"
    monkeypatch.setenv("JUPYTER_HYBRID_CATALOG", str(catalog))
    code = main(["placement", "explain", "--user", "u", "--tier", "small", "--json"])
    assert code in (0, 1)  # kubernetes sites with no cluster here: unreachable, each with its error
    decision = json.loads(capsys.readouterr().out)
    if decision["site"] is None:
        assert len(decision["reasons"]) == 3
        assert all("unreachable" in r for r in decision["reasons"])


def test_live_site_errors_become_unreachable(files, capsys, monkeypatch):
    from jupyter_hybrid.sites.local import LocalSite

    async def boom(self):
        raise OSError("disk on fire")

    monkeypatch.setattr(LocalSite, "refresh", boom)
    monkeypatch.delenv("JUPYTER_HYBRID_CATALOG", raising=False)
    code = main(["placement", "explain", "--user", "u", "--tier", "small", "--json"])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["reasons"] == [
        "local: local is unreachable: OSError: disk on fire"
    ]
