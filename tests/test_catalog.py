"""Catalog validation: every mistake names the file, the key and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from jupyter_hybrid.catalog import CatalogError, CatalogFile, load_catalog, parse_bytes, parse_catalog

from .hubtools import ROOT

GOOD = {"sites": {"local": {}}, "tiers": {"small": {"cpu": 1, "memory": "2G"}}}


def with_tier(**fields):
    return {"sites": {"local": {}}, "tiers": {"small": {"cpu": 1, "memory": "2G", **fields}}}


@pytest.mark.parametrize(
    "path", [ROOT / "hub_config" / "catalog.yaml", ROOT / "jupyter_hybrid" / "catalog" / "default.yaml"]
)
def test_shipped_catalogs_are_valid(path):
    catalog = load_catalog(path)
    assert "local" in catalog.sites and "small" in catalog.tiers


def test_defaults_fill_in():
    catalog = parse_catalog(GOOD)
    assert catalog.sites["local"].kind == "local"
    assert catalog.tiers["small"].memory == 2 * 1024**3
    assert catalog.tiers["small"].gpu == 0
    assert list(catalog.environments) == ["default"]


@pytest.mark.parametrize(
    ("data", "key", "fix"),
    [
        (with_tier(cpu=-1), "tiers.small.cpu", "greater than 0"),
        (with_tier(memory="-2G"), "tiers.small.memory", "is not a size"),
        (with_tier(memory="lots"), "tiers.small.memory", "number with K, M, G or T"),
        (with_tier(gpu=-1), "tiers.small.gpu", "greater than or equal to 0"),
        (with_tier(cpus=2), "tiers.small.cpus", "did you mean 'cpu'?"),
        (with_tier(sites=["onprem"]), "tiers.small.sites[0]", "declare it under 'sites:'"),
        ({**GOOD, "sites": {"local": {"regoin": "eu"}}}, "sites.local.regoin", "did you mean 'region'?"),
        ({**GOOD, "sites": {"local": {"kind": "slurm"}}}, "sites.local.kind", "Input should be 'local'"),
        ({**GOOD, "tiers": {"Big Tier": {"cpu": 1, "memory": "1G"}}}, "tiers.Big Tier", "rename it"),
        ({**GOOD, "tiers": {}}, "tiers", "at least 1 item"),
        ({"tiers": GOOD["tiers"]}, "sites", "is required. Fix: add it"),
        (
            {**GOOD, "extra": 1},
            "extra",
            "allowed keys here: currency, datasets, environments, placement, quotas, sites, tiers",
        ),
        (
            {
                **GOOD,
                "tiers": {
                    "a": {"cpu": 1, "memory": "1G", "default": True},
                    "b": {"cpu": 1, "memory": "1G", "default": True},
                },
            },
            "tiers",
            "mark at most one",
        ),
    ],
)
def test_mistakes_name_the_key_and_the_fix(data, key, fix):
    with pytest.raises(CatalogError) as e:
        parse_catalog(data, "catalog.yaml")
    message = str(e.value)
    assert message.startswith(f"catalog.yaml: {key}"), message
    assert fix in message and "Fix" in message


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("sites:\n  local: {\ntiers: [\n")
    with pytest.raises(CatalogError, match=r"catalog.yaml: not valid YAML at line \d+"):
        load_catalog(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        load_catalog(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(CatalogError, match="must be a mapping"):
        load_catalog(tmp_path / "list.yaml")


@pytest.mark.parametrize(
    ("text", "value"), [("2G", 2 * 1024**3), ("512M", 512 * 1024**2), ("1.5GiB", 1610612736), (1024, 1024)]
)
def test_sizes(text, value):
    assert parse_bytes(text) == value


def test_catalog_file_reloads_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    cf = CatalogFile(path)
    assert list(cf.get().tiers) == ["small"]
    path.write_text(yaml.safe_dump(with_tier(cpu=-1)))
    import os

    os.utime(path, (1, 1))  # a different mtime even on coarse clocks
    assert list(cf.get().tiers) == ["small"]
    assert "tiers.small.cpu" in cf.error
    data = {**GOOD, "tiers": {"big": {"cpu": 2, "memory": "4G"}}}
    path.write_text(yaml.safe_dump(data))
    os.utime(path, (2, 2))
    assert list(cf.get().tiers) == ["big"] and cf.error is None


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jupyter_hybrid.cli", *args], capture_output=True, text=True)


def test_cli_validate(tmp_path):
    ok = run_cli("catalog", "validate", str(ROOT / "hub_config" / "catalog.yaml"))
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_tier(cpu=0)))
    result = run_cli("catalog", "validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}: tiers.small.cpu" in result.stderr


def test_jupyter_subcommand_is_installed():
    result = subprocess.run(["jupyter", "hybrid", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "catalog" in result.stdout


def laughs(levels: int, field: str = "display_name") -> str:
    """A "billion laughs" catalog: each level aliases the one below nine times, all in one text field."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return (
        "\n".join(lines)
        + f"\nsites: {{local: {{}}}}\ntiers:\n  small: {{cpu: 1, memory: 2G, {field}: *l{levels}}}\n"
    )


@pytest.mark.parametrize("levels", [5, 9])  # 5: half a million values (before: a 4 MB message); 9: 3.5e9
def test_an_alias_bomb_is_refused_before_it_expands(tmp_path, levels):
    path = tmp_path / "catalog.yaml"
    path.write_text(laughs(levels))
    assert len(path.read_bytes()) < 1000
    with pytest.raises(CatalogError) as e:
        load_catalog(path)
    message = str(e.value)
    assert message.startswith(f"{path}: too big once its aliases (*name) are written out")
    assert "Fix: write the aliased blocks out" in message and "lol" not in message


def test_an_alias_bomb_through_merge_keys_is_refused(tmp_path):
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, 8):
        lines.append(f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(8))}}}")
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "\n".join(lines) + "\nsites: {local: {}}\ntiers: {small: {<<: *m7, cpu: 1, memory: 2G}}\n"
    )
    with pytest.raises(CatalogError, match="too big once its aliases"):
        load_catalog(path)


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("sites: {local: {}}\ntiers:\n  small: &s {cpu: 1, memory: 2G, options: {o: *s}}\n")
    with pytest.raises(CatalogError, match=r"catalog.yaml: the block at line 3 holds an alias to itself"):
        load_catalog(path)


def test_deep_nesting_is_refused_with_a_message(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("sites: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(CatalogError, match="catalog.yaml: nested too deeply to read"):
        load_catalog(path)


def test_a_catalog_using_a_few_aliases_loads(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        """\
sites:
  local: {}
  cluster:
    kind: kubernetes
    gpu_models:
      A100: &gpu-nodes
        node_selector: {nvidia.com/gpu.product: NVIDIA-A100}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      A100-80: *gpu-nodes
tiers:
  small: &base {cpu: 2, memory: 8G, groups: &researchers [physics, chemistry]}
  large: {<<: *base, cpu: 8, memory: 32G}
  gpu: {<<: *base, cpu: 8, gpu: 1, gpu_model: A100, groups: *researchers}
"""
    )
    catalog = load_catalog(path)
    assert catalog.sites["cluster"].gpu_models["A100-80"] == catalog.sites["cluster"].gpu_models["A100"]
    assert catalog.tiers["large"].memory == 32 * 1024**3 and catalog.tiers["large"].groups == [
        "physics",
        "chemistry",
    ]
    assert catalog.tiers["gpu"].gpu == 1 and catalog.tiers["gpu"].cpu == 8


def test_messages_quote_long_values_truncated(tmp_path):
    path = tmp_path / "catalog.yaml"
    huge = "9" * 100_000
    many = ", ".join(f"t{i}: {{cpu: -1, memory: 1G}}" for i in range(500))
    path.write_text(f"sites: {{local: {{}}}}\ntiers: {{small: {{cpu: 1, memory: {huge}x}}, {many}}}\n")
    with pytest.raises(CatalogError) as e:
        load_catalog(path)
    message = str(e.value)
    assert "tiers.small.memory: '99999" in message and "…" in message
    assert "… and 481 more errors" in message
    assert len(message) < 5000


def test_guarantees_and_limits():
    tiers = parse_catalog(
        {
            "sites": {"local": {}},
            "tiers": {
                "same": {"cpu": 2, "memory": "4G"},  # shorthand: guarantee = limit
                "burst": {
                    "cpu_guarantee": 0.5,
                    "cpu_limit": 4,
                    "memory_guarantee": "1G",
                    "memory_limit": "8G",
                },
                "capped": {"cpu_limit": 2, "memory_limit": "2G"},  # Kubernetes requests the limit
                "floor": {"cpu_guarantee": 1, "memory_guarantee": "1G"},
                "gpu-only": {"gpu": 1},
            },
        }
    ).tiers
    G = 1024**3
    view = {n: (t.cpu_request, t.cpu_limit, t.memory_request, t.memory_limit) for n, t in tiers.items()}
    assert view == {
        "same": (2, 2, 4 * G, 4 * G),
        "burst": (0.5, 4, G, 8 * G),
        "capped": (2, 2, 2 * G, 2 * G),
        "floor": (1, None, G, None),
        "gpu-only": (0, None, 0, None),
    }
    from jupyter_hybrid.spawner.form import tier_size

    assert tier_size(tiers["same"]) == "2 cores · 4 GiB · no GPU"
    assert tier_size(tiers["burst"]) == "0.5–4 cores · 1 GiB–8 GiB · no GPU"
    assert tier_size(tiers["capped"]) == "2 cores · 2 GiB · no GPU"
    assert tier_size(tiers["floor"]) == "at least 1 core · at least 1 GiB · no GPU"
    assert tier_size(tiers["gpu-only"]) == "cores as available · memory as available · 1 GPU"


@pytest.mark.parametrize(
    ("fields", "key", "fix"),
    [
        (
            {"cpu": 2, "cpu_limit": 4},
            "tiers.small.cpu_limit",
            "give either cpu, or cpu_guarantee and/or cpu_limit",
        ),
        ({"memory": "2G", "memory_guarantee": "1G"}, "tiers.small.memory_guarantee", "give either memory"),
        ({"cpu_guarantee": 4, "cpu_limit": 2}, "tiers.small.cpu_guarantee", "lower the guarantee"),
        ({"memory_guarantee": "4G", "memory_limit": "2G"}, "tiers.small.memory_guarantee", "4 GiB is more"),
        ({"cpu_limit": 0}, "tiers.small.cpu_limit", "greater than 0"),
    ],
)
def test_guarantee_and_limit_mistakes(fields, key, fix):
    with pytest.raises(CatalogError) as e:
        parse_catalog({"sites": {"local": {}}, "tiers": {"small": fields}}, "catalog.yaml")
    assert str(e.value).startswith(f"catalog.yaml: {key}: ") and fix in str(e.value), str(e.value)
    # the same values written out (cpu with an equal limit) are fine: a dump loads again
    same = parse_catalog({"sites": {"local": {}}, "tiers": {"small": {"cpu": 2, "cpu_limit": 2.0}}})
    assert (
        parse_catalog({"sites": {"local": {}}, "tiers": {"small": same.tiers["small"].model_dump()}}) == same
    )
