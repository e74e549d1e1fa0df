"""The spawn form: availability, disabled tiers with reasons, escaping."""

from __future__ import annotations

from pathlib import Path

from jupyter_hybrid.catalog import load_catalog, parse_catalog
from jupyter_hybrid.placement import Usage
from jupyter_hybrid.sites import SiteState
from jupyter_hybrid.spawner.form import availability, render_form

GiB = 1024**3
CATALOG = parse_catalog(
    {
        "sites": {"local": {"display_name": "This <machine>"}},
        "tiers": {
            "small": {"cpu": 1, "memory": "2G", "display_name": "Small & fast"},
            "medium": {"cpu": 2, "memory": "4G", "default": True},
            "gpu-1": {"cpu": 2, "memory": "8G", "gpu": 1},
        },
        "environments": {"default": {}, "other": {"python": "/nowhere"}},
    }
)
STATE = SiteState(
    name="local",
    kind="local",
    region="local",
    display_name="This <machine>",
    cpu_total=2,
    cpu_free=1,
    memory_total=16 * GiB,
    memory_free=10 * GiB,
    gpu_reason="no NVIDIA driver",
)


def render(selected=None, notice=None):
    return render_form(
        CATALOG,
        {"local": STATE},
        frozenset(),
        selected or {},
        {"default": {"local": None}, "other": {"local": "/nowhere/bin/jupyterhub-singleuser not found"}},
        notice,
    )


def test_availability_text():
    assert (
        availability(STATE) == "1 of 2 cores free, 10 GiB memory free, no GPU on this site (no NVIDIA driver)"
    )


def test_tiers_with_live_availability_and_reasons():
    html = render()
    assert '<input type="radio" name="tier" value="medium" checked>' in html
    assert "1 of 2 cores free" in html
    assert '<label class="jh-tier jh-disabled" data-tier="gpu-1"' in html
    assert "Unavailable: local: needs 1 GPU(s); no GPU on this site (no NVIDIA driver)" in html
    assert 'value="gpu-1" disabled' in html
    assert "Small &amp; fast" in html and "This &lt;machine&gt;" in html  # escaped
    assert (
        '<option value="other" disabled>other (unavailable: /nowhere/bin/jupyterhub-singleuser not found)'
        in html
    )


def test_previous_choice_and_notice():
    html = render({"tier": "small"}, notice="Your last choice can no longer be used: <gone>")
    assert 'value="small" checked' in html and 'value="medium" checked' not in html
    assert "Your last choice can no longer be used: &lt;gone&gt;" in html
    # a previous choice that cannot start now falls back to the default
    assert 'value="medium" checked' in render({"tier": "gpu-1"})


# --- the hybrid example: price, wait, quota, residency, unreachable sites, datasets, options -----

EXAMPLE = load_catalog(Path(__file__).parent.parent / "hub_config" / "hybrid-example.yaml")
ML = frozenset({"ml", "gpu-users"})
ONPREM = SiteState(
    name="onprem-gpu",
    kind="kubernetes",
    region="eu-central-1",
    display_name="On-prem GPU cluster (Frankfurt)",
    cpu_total=128,
    cpu_free=100,
    memory_total=1024 * GiB,
    memory_free=800 * GiB,
    gpus_total={"A100": 4},
    gpus_free={"A100": 0},
)
CLOUD = SiteState(
    name="cloud-eu",
    kind="kubernetes",
    region="eu-west-1",
    display_name="Cloud <Ireland>",
    on_prem=False,
    cost_per_hour=0.2,
    prices={"small": 0.1, "medium": 0.2, "a100-1": 4.1, "a100-mig": 1.2},
    provision_seconds=240,
    cpu_total=16,
    cpu_free=16,
    memory_total=64 * GiB,
    memory_free=64 * GiB,
)
LOCAL = SiteState(name="local", kind="local", region="local", cpu_total=2, cpu_free=2, memory_total=4 * GiB)
NO_ENV_PROBLEMS: dict = {}


def example(states=(ONPREM, CLOUD, LOCAL), groups=ML, selected=None, usage=None):
    return render_form(
        EXAMPLE, {s.name: s for s in states}, groups, selected or {}, NO_ENV_PROBLEMS, None, usage, "alice"
    )


def tier_html(html: str, tier: str) -> str:
    start = html.index(f'data-tier="{tier}"')
    return html[start : html.index("</label>", start)]


def test_where_price_and_wait_per_tier():
    html = example()
    medium = tier_html(html, "medium")
    assert "would run on <b>On-prem GPU cluster (Frankfurt)</b> (onprem-gpu, region eu-central-1)" in medium
    assert "no hourly charge" in medium and "100 of 128 cores free" in medium
    # on-prem A100s all taken: the cloud adds a node; its per-tier price is shown
    a100 = tier_html(html, "a100-1")
    assert "would run on <b>Cloud &lt;Ireland&gt;</b> (cloud-eu, region eu-west-1), 4.1/h" in a100
    assert '<div class="jh-wait">starts in about 4 min (a node is added)</div>' in a100
    assert 'value="a100-1" disabled' not in a100


def test_quota_reason_when_nothing_may_start():
    html = example(usage=Usage(user_gpus=4))
    a100 = tier_html(html, "a100-1")
    assert "Unavailable: quota: you use 4 of 4 GPUs" in a100 and 'value="a100-1" disabled' in a100
    assert "jh-disabled" not in tier_html(html, "medium")  # CPU tiers are not held back by a GPU quota


def test_residency_reason_and_dataset_checkboxes():
    catalog = parse_catalog(
        {
            "sites": {"us": {"region": "us-east-1"}},
            "tiers": {"t": {"cpu": 1, "memory": "1G"}},
            "datasets": {
                "claims": {"regions": ["eu-*"], "locations": {"us": {"path": "/d/claims"}}},
                "hr": {"groups": ["hr"], "locations": {"us": {"path": "/d/hr"}}},
            },
        }
    )
    us = SiteState(name="us", kind="local", region="us-east-1", cpu_total=2, cpu_free=2, memory_total=4 * GiB)
    html = render_form(catalog, {"us": us}, frozenset(), {"datasets": ["claims"]}, {})
    assert "Unavailable: us: dataset &#x27;claims&#x27; may only be processed in eu-*" in html
    assert '<input type="checkbox" name="datasets" value="claims" checked>' in html
    assert "may be processed in eu-*; stored on us (us-east-1)" in html
    assert '<input type="checkbox" name="datasets" value="hr" disabled>' in html
    assert "dataset &#x27;hr&#x27; is limited to group(s) hr" in html
    # without the dataset, the tier can start
    assert 'value="t" checked' in render_form(catalog, {"us": us}, frozenset(), {}, {})


def test_unreachable_site_is_shown_with_its_error_and_skipped():
    down = SiteState(
        name="onprem-gpu",
        kind="kubernetes",
        region="eu-central-1",
        reachable=False,
        error="connection <refused>",
    )
    html = example(states=(down, CLOUD, LOCAL))
    assert (
        '<li data-site="onprem-gpu" class="jh-unreachable"><b>On-prem GPU cluster (Frankfurt)</b> '
        "<small>(onprem-gpu, on-prem, region eu-central-1)</small>: "
        "Unavailable: connection &lt;refused&gt;</li>" in html
    )
    assert 'data-site="cloud-eu"' in tier_html(html, "medium")
    assert "onprem-gpu: onprem-gpu is unreachable: connection &lt;refused&gt;" in html
    # no cluster at all: Small still runs here, with the one environment this machine can run
    cloud_down = SiteState(name="cloud-eu", kind="kubernetes", region="eu-west-1", reachable=False, error="x")
    problems = {
        "datascience": {"local": "it is a container image"},
        "hub-python": {"onprem-gpu": "no image", "cloud-eu": "no image", "local": None},
    }
    html = render_form(
        EXAMPLE, {s.name: s for s in (down, cloud_down, LOCAL)}, ML, {}, problems, None, None, "alice"
    )
    small = tier_html(html, "small")
    assert 'data-site="local"' in small and "with the environment <b>Hub&#x27;s Python" in small
    assert 'value="medium" disabled' in tier_html(html, "medium")  # runs only on the two clusters


def test_tier_options_with_pattern_for_the_selected_tier():
    html = example(selected={"tier": "a100-1", "options": {"image": "cuda12-pytorch-2.5.0"}})
    start = html.index('<fieldset class="jh-options" data-options-for="a100-1">')
    field = html[start : html.index("</fieldset>", start)]
    assert '<select class="form-select" name="option-image" id="jh-opt-a100-1-image"' in field
    assert '<option value="2-4">PyTorch 2.4 (CUDA 12.4)</option>' in field
    assert '<option value="__other__" selected>Other tag...</option>' in field
    assert 'name="option-image-unlisted"' in field
    assert r'pattern="cuda12-pytorch-2\.[0-9]+\.[0-9]+"' in field
    assert 'title="must be a tag like cuda12-pytorch-2.4.1"' in field
    assert 'value="cuda12-pytorch-2.5.0"' in field
    # another tier selected: the options are hidden and not posted (no JavaScript needed for the rest)
    html = example(selected={"tier": "medium"})
    assert '<fieldset class="jh-options" data-options-for="a100-1" disabled hidden>' in html
    # a tier the user may not use shows no options
    assert 'data-options-for="a100-1"' not in example(groups=frozenset())


def test_option_values_and_regex_are_escaped():
    catalog = parse_catalog(
        {
            "sites": {"local": {}},
            "tiers": {
                "t": {
                    "cpu": 1,
                    "memory": "1G",
                    "options": {
                        "x": {
                            "display_name": "<b>X</b>",
                            "unlisted_choice": {"enabled": True, "validation_regex": '[a-z"<>]+'},
                        }
                    },
                }
            },
        }
    )
    html = render_form(
        catalog, {"local": STATE}, frozenset(), {"tier": "t", "options": {"x": '"><script>'}}, {}
    )
    assert 'pattern="[a-z&quot;&lt;&gt;]+"' in html and "&lt;b&gt;X&lt;/b&gt;" in html
    assert 'value="&quot;&gt;&lt;script&gt;"' in html and '"><script>' not in html
    assert 'name="option-x-unlisted" id="jh-opt-t-x"' in html and " required" in html
