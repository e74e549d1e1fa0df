"""The hub and ``jupyter hybrid placement explain`` decide alike (issue 10 item 2): the same
requests, on the README's example catalog, through the spawner's path (validate, site states,
environment problems, place) and through the command, give the same outcome."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tornado import web
from traitlets.config import Config

from jupyter_hybrid.catalog import load_catalog
from jupyter_hybrid.cli import main
from jupyter_hybrid.placement.statefile import parse_state
from jupyter_hybrid.spawner import hybrid
from jupyter_hybrid.spawner.hybrid import REGISTRY, HybridSpawner

EXAMPLE = Path(__file__).parent.parent / "hub_config" / "hybrid-example.yaml"
A100 = "NVIDIA A100-SXM4-80GB"
CLUSTERS = {
    "onprem-gpu": {"cpu_total": 64, "memory_total": 2**39, "gpus_total": {A100: 8, "A100 MIG 1g.10gb": 7}},
    "cloud-eu": {"cpu_total": 64, "memory_total": 2**39, "gpus_total": {A100: 4}},
}
LOCAL = {"local": {"cpu_total": 2, "memory_total": 4 * 2**30}}
DOWN = {"reachable": False, "error": "no kubeconfig context"}
SCENARIOS = {
    "clusters up": {**CLUSTERS, **LOCAL},
    "on-prem full": {**CLUSTERS, "onprem-gpu": {**CLUSTERS["onprem-gpu"], "gpus_free": {}}, **LOCAL},
    # the README's first Start: no cluster configured, only this machine answers
    "clusters down": {"onprem-gpu": DOWN, "cloud-eu": DOWN, **LOCAL},
}
USERS = {"alice": [], "mo": ["ml"], "gus": ["gpu-users"]}


@pytest.fixture
def registry():
    saved = dict(REGISTRY.sites)
    REGISTRY.sites.clear()
    yield
    REGISTRY.sites.clear()
    REGISTRY.sites.update(saved)
    hybrid._LOGGED.clear()


def hub_outcome(user: str, groups: list[str], options: dict) -> tuple[str | None, object]:
    """(site or None, the decision as a dict or the refusal's message) through HybridSpawner."""
    owner = SimpleNamespace(name=user, groups=[SimpleNamespace(name=g) for g in groups], url=f"/user/{user}/")
    orm = SimpleNamespace(name="", user_options=None, server=None)
    settings = {"catalog_file": str(EXAMPLE), "store_url": ""}  # this hub process alone (no store)
    sp = HybridSpawner(user=owner, orm_spawner=orm, config=Config({"HybridSpawner": settings}))
    try:
        resolution = asyncio.run(sp.resolve(options))
    except web.HTTPError as e:
        return None, e.log_message
    return resolution.site, resolution.decision.to_dict()


def cli_outcome(state: Path, user: str, groups: list[str], options: dict, capsys) -> tuple[int, dict | str]:
    args = ["placement", "explain", "--catalog", str(EXAMPLE), "--state", str(state), "--user", user]
    args += [a for g in groups for a in ("--group", g)] + ["--tier", options["tier"], "--json"]
    if "environment" in options:
        args += ["--environment", options["environment"]]
    args += [a for d in options.get("datasets", ()) for a in ("--dataset", d)]
    code = main(args)
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out else out.err


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_hub_and_explain_decide_alike(scenario, registry, tmp_path, capsys):
    catalog = load_catalog(EXAMPLE)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(SCENARIOS[scenario]))
    states, _ = parse_state(SCENARIOS[scenario], catalog, "alice")
    for name, site in REGISTRY.sync(catalog).items():  # the hub's own site objects, reading the file
        site.refresh = lambda s=states[name]: asyncio.sleep(0, s)

    placed = refused = 0
    envs = [None, *catalog.environments]
    for (user, groups), tier, env, datasets in itertools.product(
        USERS.items(), catalog.tiers, envs, ((), ("claims",))
    ):
        options = {
            "tier": tier,
            **({"environment": env} if env else {}),
            **({"datasets": list(datasets)} if datasets else {}),
        }
        site, hub = hub_outcome(user, groups, options)
        code, cli = cli_outcome(state, user, groups, options, capsys)
        where = f"{scenario}: {user} {options}"
        if site is None:
            refused += 1
            assert code in (1, 2), f"{where}: the hub refuses ({hub}) but explain places: {cli}"
        else:
            placed += 1
            assert code == 0 and cli == hub, f"{where}:\nhub     {hub}\nexplain {cli}"
    assert placed and refused  # both outcomes are exercised in every scenario


def test_the_readmes_first_start_is_refused_by_both(registry, tmp_path, capsys):
    """The example catalog's default (Small, Data science) with no cluster reachable."""
    catalog = load_catalog(EXAMPLE)
    scenario = SCENARIOS["clusters down"]
    state = tmp_path / "state.json"
    state.write_text(json.dumps(scenario))
    states, _ = parse_state(scenario, catalog, "alice")
    for name, site in REGISTRY.sync(catalog).items():
        site.refresh = lambda s=states[name]: asyncio.sleep(0, s)
    why = "local: environment 'datascience' cannot run here: it is a container image"
    site, message = hub_outcome("alice", [], {"tier": "small"})
    assert site is None and why in message
    code, decision = cli_outcome(state, "alice", [], {"tier": "small"}, capsys)
    assert code == 1 and decision["site"] is None and any(r.startswith(why) for r in decision["reasons"])
