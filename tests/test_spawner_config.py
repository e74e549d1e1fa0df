"""HybridSpawner's settings: every one a traitlet with help; the entry point is registered."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from jupyter_hybrid.catalog import load_catalog
from jupyter_hybrid.spawner import HybridSpawner


def test_every_setting_has_help():
    own = set(HybridSpawner.class_own_traits(config=True))
    assert {"catalog_file", "local_spawner_class"} <= own
    for name in own:
        assert len(HybridSpawner.class_traits()[name].help) > 40, name


def test_jupyterhub_finds_the_spawner_by_name():
    (ep,) = [e for e in entry_points(group="jupyterhub.spawners") if e.name == "hybrid"]
    assert ep.load() is HybridSpawner


JUPYTER = str(Path(sys.executable).parent / "jupyter")


def test_the_hybrid_example_catalog_validates():
    """The documented example: `jupyter hybrid catalog validate hub_config/hybrid-example.yaml`."""
    root = Path(__file__).parent.parent
    done = subprocess.run(
        [JUPYTER, "hybrid", "catalog", "validate", "hub_config/hybrid-example.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid (3 site(s), 4 tier(s), 3 environment(s))" in done.stdout
    catalog = load_catalog(root / "hub_config" / "hybrid-example.yaml")
    assert {catalog.sites[s].kind for s in ("onprem-gpu", "cloud-eu")} == {"kubernetes"}
    assert catalog.datasets["claims"].regions == ["eu-*"] and catalog.quotas.per_user.gpus == 4
    assert catalog.tiers["a100-1"].options["image"].unlisted_choice.enabled
    # the demo hub keeps the one-site catalog
    assert list(load_catalog(root / "hub_config" / "catalog.yaml").sites) == ["local"]
