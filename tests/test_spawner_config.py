"""HybridSpawner's settings: every one a traitlet with help; the entry point is registered."""

from __future__ import annotations

from importlib.metadata import entry_points

from jupyter_hybrid.spawner import HybridSpawner


def test_every_setting_has_help():
    own = set(HybridSpawner.class_own_traits(config=True))
    assert {"catalog_file", "local_spawner_class"} <= own
    for name in own:
        assert len(HybridSpawner.class_traits()[name].help) > 40, name


def test_jupyterhub_finds_the_spawner_by_name():
    (ep,) = [e for e in entry_points(group="jupyterhub.spawners") if e.name == "hybrid"]
    assert ep.load() is HybridSpawner
