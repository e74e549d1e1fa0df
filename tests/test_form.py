"""The spawn form: availability, disabled tiers with reasons, escaping."""

from __future__ import annotations

from jupyter_hybrid.catalog import parse_catalog
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
