"""KubeSpawner profile_list import/export (issue #5, item 5), on real-world-shaped profile_lists."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubespawner import KubeSpawner

from jupyter_hybrid.catalog import load_catalog, parse_catalog
from jupyter_hybrid.catalog.profiles import (
    ProfileError,
    export_profiles,
    find_profile_list,
    import_profiles,
    kubespawner_slug,
)
from jupyter_hybrid.cli import main

DATA = Path(__file__).parent / "data" / "profiles"
JUPYTER = Path(sys.executable).parent / "jupyter"
GOOD = ["z2jh_values.yaml", "image_choice.yaml", "dict_profiles.yaml", "no_slug.yaml", "mig.json"]


def read(name: str):
    text = (DATA / name).read_text()
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def imported(name: str, **kw):
    result = import_profiles(read(name), source=name, **kw)
    return result, parse_catalog(result.catalog, name)


def sizes(tier):
    """(cpu_guarantee, cpu_limit, memory_guarantee, memory_limit) of a tier; memory in GiB."""
    gib = [None if m is None else m / 1024**3 for m in (tier.memory_guarantee, tier.memory_limit)]
    return (tier.cpu_guarantee, tier.cpu_limit, *gib)


def kubespawner_view(profile_list):
    """The profile list as KubeSpawner 7.1 itself initializes it (sorted dict values, slugs, defaults)."""
    return KubeSpawner._get_initialized_profile_list(
        None, KubeSpawner._sorted_dict_values(None, profile_list)
    )


# --- import ---------------------------------------------------------------------------------


def test_z2jh_values_cpu_and_gpu_profiles():
    result, catalog = imported("z2jh_values.yaml", site="onprem", site_spec={"namespace": "hub"})
    assert result.key == "singleuser.profileList"
    assert list(catalog.tiers) == ["small", "large", "gpu-a100", "gpu-t4-2"]
    small, large, a100, t4 = catalog.tiers.values()
    # singleuser.cpu/memory/image are the defaults of a profile that does not override them,
    # guarantee and limit each (z2jh's cpu guarantee is below its limit)
    assert (sizes(small), small.default) == ((0.5, 2, 4, 4), True)
    assert small.kubespawner_override == {}
    assert catalog.environments[small.environments[0]].image == "quay.io/jupyter/scipy-notebook:2024-07-29"
    assert (sizes(large), large.gpu) == ((8, 8, 32, 32), 0)
    assert large.kubespawner_override == {"node_selector": {"cloud.google.com/gke-nodepool": "highmem"}}
    assert (a100.gpu, a100.gpu_model, a100.mig) == (1, "NVIDIA-A100-SXM4-80GB", None)
    assert catalog.environments[a100.environments[0]].image.endswith("pytorch-notebook:cuda12-2024-07-29")
    assert a100.environments == t4.environments  # one environment per image
    assert len(catalog.environments) == 2
    ks = a100.kubespawner_override
    assert ks["node_selector"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert ks["tolerations"][0]["effect"] == "NoSchedule"
    assert ks["lifecycle_hooks"]["postStart"]["exec"]["command"][0] == "sh"
    assert ks["volumes"][0]["emptyDir"] == {"medium": "Memory"} and ks["volume_mounts"][0]["name"] == "shm"
    assert sizes(a100) == (6, 8, 64, 64)
    # consumed into the tier: sizes, the GPU limit and its equal guarantee, the image
    for key in ("cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee", "extra_resource_limits", "image"):
        assert key not in ks
    assert "extra_resource_guarantees" not in ks
    assert (t4.gpu, t4.gpu_model) == (2, "nvidia-tesla-t4")
    # unknown overrides are carried, never dropped
    assert t4.kubespawner_override["my_site_specific_trait"] == "keep-me"
    assert t4.kubespawner_override["extra_pod_config"] == {"priorityClassName": "gpu-users"}
    # the profile sets limits only: singleuser's guarantees apply, as KubeSpawner would apply them
    assert sizes(t4) == (0.5, 4, 4, 16) and "mem_guarantee" not in t4.kubespawner_override
    assert result.carried["my_site_specific_trait"] == ["gpu-t4-2"]
    site = catalog.sites["onprem"]
    assert (site.kind, site.namespace) == ("kubernetes", "hub")
    assert site.gpu_models["NVIDIA-A100-SXM4-80GB"].node_selector == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"
    }


def test_image_choices_unlisted_choice_and_regex_notes():
    result, catalog = imported("image_choice.yaml")
    assert result.key == "jupyterhub.singleuser.profileList"  # z2jh as a sub-chart
    pangeo = catalog.tiers["n2-highmem-4"]
    # the sub-chart's singleuser.image is the default of profiles without an image
    assert catalog.environments[pangeo.environments[0]].image == "pangeo/pangeo-notebook:2024.07.22"
    image = pangeo.options["image"]
    assert image.choices["pangeo"].default and not image.choices["geospatial"].default
    assert image.choices["geospatial"].kubespawner_override == {
        "image": "rocker/binder:4.3",
        "default_url": "/rstudio",
    }
    unlisted = image.unlisted_choice
    assert unlisted.enabled and unlisted.display_name == "Custom image"
    assert unlisted.validation_regex == "^.+:.+$"
    assert unlisted.validation_message.startswith("Must be a publicly available")
    assert unlisted.kubespawner_override == {"image": "{value}", "extra_labels": {"custom-image": "{value}"}}
    # option names become catalog names; KubeSpawner's "first choice is the default" is made explicit
    allocation = pangeo.options["resource-allocation"]
    assert [c.default for c in allocation.choices.values()] == [True, False]
    assert allocation.choices["mem_3_7"].kubespawner_override["mem_limit"] == 3982489550
    assert any("'resource_allocation' renamed 'resource-allocation'" in n for n in result.notes)
    assert any("choices set cpu_guarantee, cpu_limit, mem_guarantee, mem_limit" in n for n in result.notes)
    # the regex text is kept; an unanchored one is reported (our fullmatch makes it stricter)
    tag = catalog.tiers["byo-tag"].options["tag"].unlisted_choice
    assert tag.validation_regex == "^20[0-9]{2}-"
    assert tag.kubespawner_override == {"image": "quay.io/jupyter/datascience-notebook:{value}"}
    regex_notes = [n for n in result.notes if "not anchored at the end" in n]
    assert len(regex_notes) == 1 and "'^20[0-9]{2}-'" in regex_notes[0]
    # an option that only picks an image becomes environments, the default choice first
    r_or_python = catalog.tiers["r-or-python"]
    assert r_or_python.options == {}
    assert r_or_python.environments == ["r-notebook-2024-07-29", "scipy-notebook-2024-07-29"]
    assert catalog.environments["r-notebook-2024-07-29"].display_name == "R"
    assert catalog.default_name("environments", r_or_python.environments) == "r-notebook-2024-07-29"


def test_dict_profile_list_is_sorted_by_key_and_slugged_like_kubespawner():
    data = read("dict_profiles.yaml")
    result, catalog = imported("dict_profiles.yaml")
    assert result.key == "hub.config.KubeSpawner.profile_list"
    expected = kubespawner_view(data["hub"]["config"]["KubeSpawner"]["profile_list"])
    assert list(catalog.tiers) == [p["slug"] for p in expected]
    assert list(catalog.tiers) == ["small-1-cpu-2-gb", "medium-2-cpu-8-gb", "gpu-1-x-v100-16-gb"]
    assert [t.default for t in catalog.tiers.values()] == [p.get("default", False) for p in expected]
    # hub.config.KubeSpawner traits are the defaults of every profile
    small = catalog.tiers["small-1-cpu-2-gb"]
    # the chart's own memory guarantee (1G) stays under hub.config's limit; a cpu limit alone is
    # also the pod's request (Kubernetes defaults it), and placement counts it so
    assert sizes(small) == (None, 1, 1, 2)
    assert (small.cpu_request, small.memory_request) == (1, 1024**3)
    gpu = catalog.tiers["gpu-1-x-v100-16-gb"]
    assert (gpu.gpu, gpu.gpu_model) == (1, "nvidia-tesla-v100")
    assert {catalog.environments[t.environments[0]].image for t in catalog.tiers.values()} == {
        "quay.io/jupyter/minimal-notebook:2024-07-29"
    }


def test_missing_slugs_use_kubespawners_own_function():
    data = read("no_slug.yaml")
    result, catalog = imported("no_slug.yaml")
    assert result.key == ""
    ks = kubespawner_view(data)
    assert [kubespawner_slug(p) for p in data] == [p["slug"] for p in ks]
    assert list(catalog.tiers)[:3] == [p["slug"] for p in ks][:3]
    assert list(catalog.tiers)[:3] == [
        "datascience-environment-python-3-11-r",
        "cafe-b-creme-b-heavy",
        "gpu-training-2x",
    ]
    # an explicit slug that is not a catalog name is renamed, and the summary says so
    assert list(catalog.tiers)[3] == "custom-slug"
    assert any("'Custom_Slug' renamed 'custom-slug'" in n for n in result.notes)
    # guarantees alone: reserved, and no limit
    custom = catalog.tiers["custom-slug"]
    assert (sizes(custom), custom.kubespawner_override) == ((0.5, None, 0.5, None), {})
    assert catalog.tiers["cafe-b-creme-b-heavy"].display_name == "Café <b>Crème</b> — heavy"
    # no image anywhere: one environment, the site's default image
    assert list(catalog.environments) == ["default"] and catalog.environments["default"].image is None


def test_mig_profiles_from_a_jupyterhub_config_json():
    result, catalog = imported("mig.json")
    assert result.key == "KubeSpawner.profile_list"
    small, large = catalog.tiers["mig-1g"], catalog.tiers["mig-3g"]
    assert (small.gpu, small.mig, small.gpu_model) == (1, "1g.10gb", "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb")
    assert (large.gpu, large.mig, large.default) == (1, "3g.40gb", True)
    assert catalog.environments[small.environments[0]].image == "nvcr.io/nvidia/pytorch:24.07-py3"
    profiles = export_profiles(catalog, "imported")
    assert profiles[0]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/mig-1g.10gb": 1}
    assert profiles[1]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/mig-3g.40gb": 1}


def test_key_picks_the_profile_list_and_bad_keys_are_named():
    data = {
        "mine": {"profiles": read("no_slug.yaml")},
        "singleuser": {"profileList": [{"display_name": "x"}]},
    }
    found = find_profile_list(data, "mine.profiles")
    assert found.key == "mine.profiles" and len(found.profiles) == 4
    with pytest.raises(ProfileError, match="no 'nope' under mine \\(found: profiles\\)"):
        find_profile_list(data, "mine.nope")
    with pytest.raises(ProfileError, match="mine holds a dict, not a profile_list|profile must be a mapping"):
        find_profile_list({"mine": {"a": 1}}, "mine")
    with pytest.raises(ProfileError, match="singleuser.profileList is empty"):
        find_profile_list({"singleuser": {"profileList": []}})


def test_profile_errors_name_the_profile_and_the_fix():
    # the fallback flags fill in a profile that sets (and inherits) neither guarantee nor limit;
    # the chart's memory guarantee (1G) is inherited, so --default-memory does not apply
    _, catalog = imported("missing_size.yaml", default_cpu=2, default_memory="6G")
    assert (sizes(catalog.tiers["unsized-gpu"]), catalog.tiers["unsized-gpu"].gpu) == ((2, 2, 1, None), 1)
    assert sizes(catalog.tiers["tiny"]) == (None, 1, 1, 1)  # the profile's own value wins over the flag
    above = [{"display_name": "A", "kubespawner_override": {"cpu_guarantee": 4, "cpu_limit": 2}}]
    with pytest.raises(ProfileError, match=r"profile #1 \('A'\): cpu_guarantee 4 is more than cpu_limit 2"):
        import_profiles(above)
    twice = [
        {"display_name": "A", "slug": "a", "kubespawner_override": {"cpu_limit": 1, "mem_limit": "1G"}}
    ] * 2
    with pytest.raises(ProfileError, match="slug 'a' is also the slug of profile #1"):
        import_profiles(twice)
    bad = [{"display_name": "A", "kubespawner_override": {"cpu_limit": 1, "mem_limit": "2Gi"}}]
    with pytest.raises(ProfileError, match="mem_limit: '2Gi' is not a size.*Fix"):
        import_profiles(bad)
    both = [
        {
            "display_name": "Both",
            "kubespawner_override": {
                "cpu_limit": 1,
                "mem_limit": "1G",
                "extra_resource_limits": {"nvidia.com/gpu": 1, "nvidia.com/mig-1g.5gb": 1},
            },
        }
    ]
    with pytest.raises(ProfileError, match="one kind of GPU"):
        import_profiles(both)


def test_renamed_gpu_resources_need_a_gpu_model_label():
    shared = {"cpu_limit": 1, "mem_limit": "1G", "extra_resource_limits": {"nvidia.com/gpu.shared": 1}}
    counted = import_profiles(
        [
            {
                "display_name": "L4",
                "kubespawner_override": {**shared, "node_selector": {"nvidia.com/gpu.product": "L4"}},
            }
        ]
    )
    catalog = parse_catalog(counted.catalog)
    assert (catalog.tiers["l4"].gpu, catalog.tiers["l4"].gpu_model) == (1, "L4")
    assert catalog.sites["imported"].gpu_models["L4"].resource == "nvidia.com/gpu.shared"
    carried = import_profiles(
        [{"display_name": "L4", "kubespawner_override": {**shared, "node_selector": {"pool": "l4"}}}]
    )
    tier = parse_catalog(carried.catalog).tiers["l4"]
    assert tier.gpu == 0 and tier.kubespawner_override["extra_resource_limits"] == {
        "nvidia.com/gpu.shared": 1
    }
    assert any("placement does not count it" in n and "nvidia.com/gpu.product" in n for n in carried.notes)


# --- export and round trips -----------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_import_export_import_round_trips_the_tiers(name):
    first, catalog = imported(name)
    profiles = export_profiles(catalog, "imported")
    second = import_profiles(copy.deepcopy(profiles), source="exported")
    again = parse_catalog(second.catalog, "exported")
    assert again.tiers == catalog.tiers
    assert again.environments == catalog.environments
    assert again.sites == catalog.sites
    assert export_profiles(again, "imported") == profiles
    # what KubeSpawner itself would offer: same slugs, same default, same order
    assert [p["slug"] for p in kubespawner_view(profiles)] == list(catalog.tiers)


HAND_WRITTEN = {
    "sites": {
        "laptop": {"kind": "local"},
        "onprem": {
            "kind": "kubernetes",
            "namespace": "jhub",
            "gpu_models": {
                "A100": {
                    "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
                "L4": {
                    "resource": "nvidia.com/gpu.shared",
                    "node_selector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
                },
            },
        },
    },
    "tiers": {
        "small": {"display_name": "Small", "cpu": 1, "memory": "2G", "default": True},
        "a100": {
            "display_name": "A100",
            "description": "one A100",
            "cpu": 8,
            "memory": "64G",
            "gpu": 1,
            "gpu_model": "A100",
            "environments": ["torch"],
            "kubespawner_override": {
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
                ],
                "node_selector": {"zone": "b"},
            },
        },
        "l4": {
            "cpu": 4,
            "memory": 1536 * 1024**2,
            "gpu": 2,
            "gpu_model": "L4",
            "environments": ["torch", "scipy"],
        },
        "mig": {
            "cpu": 2,
            "memory": "10G",
            "gpu": 1,
            "gpu_model": "A100",
            "mig": "1g.10gb",
            "sites": ["onprem"],
        },
        "local-only": {"cpu": 1, "memory": "1G", "sites": ["laptop"]},
        "tagged": {
            "cpu": 1,
            "memory": "1G",
            "environments": ["scipy"],
            "options": {
                "tag": {
                    "display_name": "Tag",
                    "unlisted_choice": {
                        "enabled": True,
                        "validation_regex": "^[0-9-]+$",
                        "kubespawner_override": {"image": "quay.io/jupyter/scipy-notebook:{value}"},
                    },
                }
            },
        },
    },
    "environments": {
        "hub": {"display_name": "Hub's Python", "default": True},
        "scipy": {"display_name": "SciPy", "image": "quay.io/jupyter/scipy-notebook:2024-07-29"},
        "torch": {
            "display_name": "PyTorch",
            "image": "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29",
            "kubespawner_override": {"environment": {"TORCH_HOME": "/data/torch"}},
        },
    },
}


def test_export_from_a_hand_written_catalog():
    catalog = parse_catalog(copy.deepcopy(HAND_WRITTEN))
    profiles = {p["slug"]: p for p in export_profiles(catalog, "onprem")}
    assert list(profiles) == ["small", "a100", "l4", "mig", "tagged"]  # local-only may not run there
    small = profiles["small"]
    assert small["default"] is True and small["display_name"] == "Small"
    assert small["kubespawner_override"] == {
        "cpu_limit": 1,
        "cpu_guarantee": 1,
        "mem_limit": "2G",
        "mem_guarantee": "2G",
    }
    a100 = profiles["a100"]["kubespawner_override"]
    assert a100["extra_resource_limits"] == {"nvidia.com/gpu": 1}
    assert a100["node_selector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "zone": "b"}
    assert [t["key"] for t in a100["tolerations"]] == ["nvidia.com/gpu", "dedicated"]
    assert a100["image"] == "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29"
    assert a100["environment"] == {"TORCH_HOME": "/data/torch"}
    l4 = profiles["l4"]
    assert l4["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu.shared": 2}
    assert l4["kubespawner_override"]["mem_limit"] == "1536M"
    image = l4["profile_options"]["image"]
    assert list(image["choices"]) == ["torch", "scipy"]
    assert image["choices"]["torch"]["default"] and not image["choices"]["scipy"]["default"]
    assert image["choices"]["torch"]["kubespawner_override"]["environment"] == {"TORCH_HOME": "/data/torch"}
    assert profiles["mig"]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/mig-1g.10gb": 1}
    tag = profiles["tagged"]["profile_options"]["tag"]["unlisted_choice"]
    assert tag["kubespawner_override"] == {"image": "quay.io/jupyter/scipy-notebook:{value}"}
    assert tag["validation_regex"] == "^[0-9-]+$" and tag["enabled"] is True
    with pytest.raises(ProfileError, match="kind 'local'"):
        export_profiles(catalog, "laptop")
    with pytest.raises(ProfileError, match="no site 'nope'.*laptop, onprem"):
        export_profiles(catalog, "nope")
    # and back: the same tiers' sizes, GPUs and options; the profiles themselves are a fixed point
    back = parse_catalog(import_profiles(export_profiles(catalog, "onprem")).catalog)
    for name, tier in back.tiers.items():
        orig = catalog.tiers[name]
        assert (tier.cpu, tier.memory, tier.gpu, tier.mig, tier.default) == (
            orig.cpu,
            orig.memory,
            orig.gpu,
            orig.mig,
            orig.default,
        )
        # an environment choice with further overrides stays an option (it is more than an image)
        assert {k: v for k, v in tier.options.items() if k != "image"} == orig.options
    assert export_profiles(back, "imported") == export_profiles(catalog, "onprem")


def test_kubespawner_applies_the_exported_profiles(monkeypatch):
    """The exported list is loaded by KubeSpawner 7.1 itself and sets the traits we meant.

    Building a KubeSpawner loads a cluster config and an API client (process-wide); no cluster
    exists here and profile loading never calls the API, so those two names are replaced for
    this test only (as sites/kubernetes/client.py does per site)."""
    import kubespawner.spawner as ks_spawner

    monkeypatch.setattr(ks_spawner, "load_config", lambda **kw: None)
    monkeypatch.setattr(ks_spawner, "shared_client", lambda kind: None)
    catalog = parse_catalog(copy.deepcopy(HAND_WRITTEN))
    profiles = export_profiles(catalog, "onprem")

    def load(options):
        spawner = KubeSpawner(_mock=True, profile_list=copy.deepcopy(profiles))
        spawner.user_options = options
        asyncio.run(spawner.load_user_options())
        return spawner

    a100 = load({"profile": "a100"})
    assert (a100.cpu_limit, a100.cpu_guarantee, a100.mem_limit) == (8, 8, 64 * 1024**3)
    assert a100.extra_resource_limits == {"nvidia.com/gpu": 1}
    assert a100.node_selector["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert a100.image == "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29"
    l4 = load({"profile": "l4", "image": "scipy"})
    assert l4.image == "quay.io/jupyter/scipy-notebook:2024-07-29"
    tagged = load({"profile": "tagged", "tag--unlisted-choice": "2024-07-29"})
    assert tagged.image == "quay.io/jupyter/scipy-notebook:2024-07-29"
    default = load({})
    assert default.cpu_limit == 1  # "small" is the default profile


# --- the command line -----------------------------------------------------------------------


def run(*args):
    return subprocess.run([str(JUPYTER), "hybrid", "catalog", *args], capture_output=True, text=True)


def cli(capsys, *args):
    """The same command line, in this process: (exit status, stdout, stderr)."""
    code = main(["catalog", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_import_and_export_in_a_subprocess(tmp_path, capsys):
    out = tmp_path / "catalog.yaml"
    flags = ["--site", "gke", "--namespace", "jhub", "--context", "gke_prod", "--region", "europe-west4"]
    result = run("import-profiles", str(DATA / "z2jh_values.yaml"), "--out", str(out), *flags)
    assert result.returncode == 0, result.stderr
    assert "profile_list read from key singleuser.profileList" in result.stdout
    assert "4 tier(s) (small, large, gpu-a100, gpu-t4-2), 2 environment(s)" in result.stdout
    assert "my_site_specific_trait (gpu-t4-2)" in result.stdout
    assert "tolerations (gpu-a100, gpu-t4-2)" in result.stdout
    catalog = load_catalog(out)  # what was written validates
    site = catalog.sites["gke"]
    assert (site.kind, site.namespace, site.context, site.region) == (
        "kubernetes",
        "jhub",
        "gke_prod",
        "europe-west4",
    )
    assert cli(capsys, "validate", str(out))[0] == 0

    code, _, err = cli(capsys, "import-profiles", str(DATA / "mig.json"), "--out", str(out))
    assert code == 2 and "exists; not overwritten. Fix: pass --force" in err
    assert list(load_catalog(out).tiers) == list(catalog.tiers)  # untouched
    assert cli(capsys, "import-profiles", str(DATA / "mig.json"), "--out", str(out), "--force")[0] == 0
    assert list(load_catalog(out).tiers) == ["mig-1g", "mig-3g"]

    exported = tmp_path / "profiles.yaml"
    result = run("export-profiles", str(out), "--site", "imported", "--out", str(exported))
    assert result.returncode == 0, result.stderr
    assert "2 profile(s) (mig-1g, mig-3g)" in result.stdout
    assert [p["slug"] for p in yaml.safe_load(exported.read_text())] == ["mig-1g", "mig-3g"]
    code, to_stdout, _ = cli(capsys, "export-profiles", str(out), "--site", "imported")
    assert code == 0 and yaml.safe_load(to_stdout) == yaml.safe_load(exported.read_text())
    code, _, err = cli(capsys, "export-profiles", str(out), "--site", "imported", "--out", str(exported))
    assert code == 2 and "exists; not overwritten" in err
    code, _, err = cli(capsys, "export-profiles", str(out), "--site", "cloud")
    assert code == 2 and "no site 'cloud' in the catalog. Fix: use one of: imported" in err


def test_cli_error_in_a_subprocess_exits_2_without_a_traceback(tmp_path):
    result = run("import-profiles", str(DATA / "malformed.yaml"), "--out", str(tmp_path / "c.yaml"))
    assert result.returncode == 2
    assert "malformed.yaml: not valid YAML at line 5, column 19" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "c.yaml").exists()


@pytest.mark.parametrize(
    "name, extra, message",
    [
        ("no_profiles.yaml", [], "no profile_list found; tried the keys singleuser.profileList, "),
        ("no_profiles.yaml", [], "Fix: pass --key PATH.TO.profileList"),
        ("malformed.yaml", [], "malformed.yaml: not valid YAML at line 5, column 19"),
        ("z2jh_values.yaml", ["--key", "singleuser.profilelist"], "no 'profilelist' under singleuser"),
        ("does-not-exist.yaml", [], "does-not-exist.yaml: cannot read it"),
    ],
)
def test_cli_errors_exit_2_with_the_message(tmp_path, capsys, name, extra, message):
    out = tmp_path / "catalog.yaml"
    code, _, err = cli(capsys, "import-profiles", str(DATA / name), "--out", str(out), *extra)
    assert code == 2
    assert message in err
    assert not out.exists()


def test_cli_in_process(tmp_path, capsys):
    out = tmp_path / "catalog.yaml"
    code = main(["catalog", "import-profiles", str(DATA / "image_choice.yaml"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "key jupyterhub.singleuser.profileList" in printed
    assert "note:" in printed and "not anchored at the end" in printed
    assert load_catalog(out).tiers["byo-tag"].options["tag"].unlisted_choice.enabled
    code = main(
        ["catalog", "import-profiles", str(DATA / "missing_size.yaml"), "--out", str(tmp_path / "x.yaml")]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "singleuser.profileList[1] ('Unsized GPU'): no cpu guarantee or limit" in printed
    assert sizes(load_catalog(tmp_path / "x.yaml").tiers["unsized-gpu"]) == (None, None, 1, None)
    code = main(
        [
            "catalog",
            "import-profiles",
            str(DATA / "missing_size.yaml"),
            "--out",
            str(tmp_path / "x.yaml"),
            "--force",
            "--default-cpu",
            "1",
            "--default-memory",
            "2G",
        ]
    )
    assert code == 0 and load_catalog(tmp_path / "x.yaml").tiers["unsized-gpu"].gpu == 1
    capsys.readouterr()
    code = main(["catalog", "export-profiles", str(out), "--site", "imported"])
    exported = yaml.safe_load(capsys.readouterr().out)
    assert code == 0 and [p["slug"] for p in exported] == ["n2-highmem-4", "byo-tag", "r-or-python"]


def test_exported_regexes_mean_the_same_to_kubespawner(monkeypatch):
    """Our regexes match the whole value; the export makes KubeSpawner's re.match agree."""
    import re

    import kubespawner.spawner as ks_spawner

    monkeypatch.setattr(ks_spawner, "load_config", lambda **kw: None)
    monkeypatch.setattr(ks_spawner, "shared_client", lambda kind: None)
    _, catalog = imported("image_choice.yaml")
    ours = catalog.tiers["byo-tag"].options["tag"].unlisted_choice.validation_regex
    profiles = export_profiles(catalog, "imported")
    exported = profiles[1]["profile_options"]["tag"]["unlisted_choice"]["validation_regex"]
    assert (ours, exported) == ("^20[0-9]{2}-", "(?:^20[0-9]{2}-)$")
    # and back: the same text as imported (a fixed point), without a second note
    again = import_profiles(copy.deepcopy(profiles))
    assert again.catalog["tiers"]["byo-tag"]["options"]["tag"]["unlisted_choice"]["validation_regex"] == ours
    assert not any("not anchored" in n for n in again.notes)

    def kubespawner_accepts(value):
        spawner = KubeSpawner(_mock=True, profile_list=copy.deepcopy(profiles))
        spawner.user_options = {"profile": "byo-tag", "tag--unlisted-choice": value}
        try:
            asyncio.run(spawner.load_user_options())
        except ValueError:
            return False
        return True

    for value in ("2024-", "2024-07-29", "2024-07-29; curl evil", "1999-"):
        assert kubespawner_accepts(value) == bool(re.fullmatch(ours, value)), value


def test_cli_refuses_an_alias_bomb_in_a_values_file(tmp_path, capsys):
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 6)]
    values = tmp_path / "values.yaml"
    values.write_text(
        "\n".join(lines) + "\nsingleuser:\n  profileList:\n    - {display_name: *l5, "
        "kubespawner_override: {cpu_limit: 1, mem_limit: 1G}}\n"
    )
    out = tmp_path / "catalog.yaml"
    code, _, err = cli(capsys, "import-profiles", str(values), "--out", str(out))
    assert code == 2 and not out.exists()
    assert err.startswith(f"{values}: too big once its aliases (*name) are written out") and "lol" not in err


def test_a_values_file_with_aliases_imports(tmp_path, capsys):
    values = tmp_path / "values.yaml"
    values.write_text(
        """\
singleuser:
  profileList:
    - display_name: Small
      kubespawner_override: &small {cpu_limit: 1, mem_limit: 2G}
    - display_name: Small, GPU
      kubespawner_override:
        <<: *small
        extra_resource_limits: {nvidia.com/gpu: 1}
"""
    )
    code, _, err = cli(capsys, "import-profiles", str(values), "--out", str(tmp_path / "c.yaml"))
    assert code == 0, err
    tiers = load_catalog(tmp_path / "c.yaml").tiers
    assert (sizes(tiers["small"]), sizes(tiers["small-gpu"]), tiers["small-gpu"].gpu) == (
        (None, 1, 1, 2),
        (None, 1, 1, 2),
        1,
    )


def test_import_notes_quote_long_names_truncated():
    name = "N" * 100_000
    result = import_profiles(
        [{"display_name": name, "kubespawner_override": {"cpu_limit": 1, "mem_limit": "1G"}, name: 1}]
    )
    assert result.notes and all(len(note) < 400 for note in result.notes)
    with pytest.raises(ProfileError) as e:
        import_profiles([{"display_name": "x", "kubespawner_override": {"cpu_limit": name, "mem_limit": 1}}])
    assert len(str(e.value)) < 400 and "…" in str(e.value)


# --- profiles without a size (z2jh's singleuser defaults, guarantees and limits) ----------------


def test_gpu_only_and_image_only_profiles_take_the_values_files_defaults(monkeypatch):
    result, catalog = imported("z2jh_gpu_and_image_only.yaml")
    tiers = catalog.tiers
    assert list(tiers) == ["minimal-environment", "datascience-environment", "gpu-server", "gpu-no-limits"]
    # singleuser.cpu/memory: guarantee and limit each, for every profile that sets neither
    for name in ("minimal-environment", "datascience-environment", "gpu-server"):
        assert sizes(tiers[name]) == (1, 4, 2, 8), name
        assert (tiers[name].cpu_request, tiers[name].memory_request) == (1, 2 * 1024**3)
    assert tiers["gpu-server"].gpu == 1 and tiers["datascience-environment"].gpu == 0
    image = catalog.environments[tiers["datascience-environment"].environments[0]].image
    assert image == "quay.io/jupyter/datascience-notebook:2024-07-29"
    # null unsets the default's limit; the guarantees stay
    assert sizes(tiers["gpu-no-limits"]) == (1, None, 2, None)
    assert not any("no cpu" in n for n in result.notes)

    # export writes guarantee and limit back, and KubeSpawner itself applies them
    import kubespawner.spawner as ks_spawner

    monkeypatch.setattr(ks_spawner, "load_config", lambda **kw: None)
    monkeypatch.setattr(ks_spawner, "shared_client", lambda kind: None)
    profiles = export_profiles(catalog, "imported")
    assert profiles[2]["kubespawner_override"]["cpu_guarantee"] == 1
    assert profiles[2]["kubespawner_override"]["mem_limit"] == "8G"

    def load(slug):
        spawner = KubeSpawner(
            _mock=True, profile_list=copy.deepcopy(profiles), cpu_limit=32.0, mem_limit="1T"
        )
        spawner.user_options = {"profile": slug}
        asyncio.run(spawner.load_user_options())
        return spawner

    gpu = load("gpu-server")
    assert (gpu.cpu_guarantee, gpu.cpu_limit, gpu.mem_guarantee, gpu.mem_limit) == (
        1,
        4,
        2 * 1024**3,
        8 * 1024**3,
    )
    assert gpu.extra_resource_limits == {"nvidia.com/gpu": 1}
    unlimited = load("gpu-no-limits")  # null reaches KubeSpawner too: the hub's defaults do not apply
    assert (unlimited.cpu_limit, unlimited.mem_limit, unlimited.cpu_guarantee) == (None, None, 1)
    # and the round trip gives the same tiers
    assert parse_catalog(import_profiles(copy.deepcopy(profiles)).catalog).tiers == catalog.tiers


def test_without_singleuser_defaults_a_profile_reserves_what_the_chart_does():
    data = read("z2jh_gpu_and_image_only.yaml")
    del data["singleuser"]["cpu"], data["singleuser"]["memory"]
    result = import_profiles(data)
    tiers = parse_catalog(result.catalog).tiers
    # z2jh's chart: memory guarantee 1G, no cpu guarantee, no limits
    for tier in tiers.values():
        assert sizes(tier) == (None, None, 1, None)
        assert (tier.cpu_request, tier.memory_request) == (0, 1024**3)
    assert tiers["gpu-server"].gpu == 1
    assert sum("no cpu guarantee or limit" in n for n in result.notes) == 4
    # a bare profile list (no chart): nothing at all is reserved
    bare = import_profiles(copy.deepcopy(data["singleuser"]["profileList"]))
    gpu = parse_catalog(bare.catalog).tiers["gpu-server"]
    assert sizes(gpu) == (None, None, None, None) and (gpu.cpu_request, gpu.memory_request) == (0, 0)
    assert any("no cpu or memory guarantee or limit" in n for n in bare.notes)
    exported = export_profiles(parse_catalog(bare.catalog), "imported")[2]["kubespawner_override"]
    assert exported["cpu_limit"] is None and exported["mem_guarantee"] is None  # written back as null


def test_placement_fits_guarantees_not_limits():
    from jupyter_hybrid.placement import tier_fit_problem
    from jupyter_hybrid.sites import SiteState

    _, catalog = imported("z2jh_gpu_and_image_only.yaml")
    state = SiteState(
        name="imported",
        kind="kubernetes",
        region="local",
        cpu_total=8,
        cpu_free=1.5,  # room for the 1-core guarantee, not for the 4-core limit
        memory_total=64 * 1024**3,
        memory_free=3 * 1024**3,
        gpus_total={"NVIDIA-A100": 1},
        gpus_free={"NVIDIA-A100": 1},
    )
    assert tier_fit_problem(catalog.tiers["gpu-server"], state) is None
    assert tier_fit_problem(catalog.tiers["minimal-environment"], state) is None
    tight = SiteState(**{**state.to_dict(), "cpu_free": 0.5})
    problem = tier_fit_problem(catalog.tiers["minimal-environment"], tight)
    assert problem.startswith("needs 1 core") and "0.5 free on imported" in problem
