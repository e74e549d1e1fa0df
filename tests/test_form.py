"""The spawn form: availability, disabled tiers with reasons, environments per tier, escaping,
what users and admins see of a site's error, wording."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jupyter_hybrid.catalog import load_catalog, parse_catalog
from jupyter_hybrid.placement import Usage
from jupyter_hybrid.quote import quote
from jupyter_hybrid.sites import SiteState
from jupyter_hybrid.spawner.fit import place_with_environment
from jupyter_hybrid.spawner.form import availability, render_form, tier_size
from jupyter_hybrid.spawner.options import options_from_form, validate_options
from jupyter_hybrid.wording import count, price_text, wait_text

GiB = 1024**3
CATALOG = parse_catalog(
    {
        # one server holds a core: medium (2 cores) fits only because the site may promise 4
        "sites": {"local": {"display_name": "This <machine>", "overcommit": {"cpu": 2}}},
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
    cpu_reserved=1,
    memory_reserved=6 * GiB,
    gpu_reason="no NVIDIA driver",
)
LOCAL_PROBLEMS = {
    "default": {"local": None},
    "other": {"local": "/nowhere/bin/jupyterhub-singleuser not found"},
}


def render(selected=None, notice=None):
    return render_form(CATALOG, {"local": STATE}, frozenset(), selected or {}, LOCAL_PROBLEMS, notice)


class Page(HTMLParser):
    """The rendered form as a browser without JavaScript sees it: elements, text, and what a
    submit posts (enabled fields, outside disabled fieldsets)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._open: list[tuple[str, dict]] = []
        self._select: tuple[str, list] | None = None
        self.fields: list[tuple[str, dict, list]] = []  # (tag, attrs, [(option value, attrs)])
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        disabled = "disabled" in attrs or any(
            t == "fieldset" and "disabled" in a for t, a in self._open if t == "fieldset"
        )
        if tag in ("input", "select") and not disabled:
            self.fields.append((tag, attrs, []))
        if tag == "option" and self.fields and self.fields[-1][0] == "select" and self._in("select"):
            self.fields[-1][2].append(attrs)
        if tag not in ("input", "br", "meta", "link"):
            self._open.append((tag, attrs))

    def _in(self, tag):
        return any(t == tag for t, _ in self._open)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)

    def post(self, tier: str | None = None) -> dict[str, list[str]]:
        """The fields a submit sends, with radio ``tier`` chosen (default: the checked one)."""
        out: dict[str, list[str]] = {}
        for tag, attrs, options in self.fields:
            name = attrs.get("name")
            if tag == "select":
                picked = [o for o in options if "selected" in o and "disabled" not in o] or [
                    o for o in options if "disabled" not in o
                ]
                if picked:
                    out.setdefault(name, []).append(picked[0]["value"])
            elif attrs.get("type") == "radio":
                if (attrs["value"] == tier) if tier else "checked" in attrs:
                    out.setdefault(name, []).append(attrs["value"])
            elif attrs.get("type") == "checkbox":
                if "checked" in attrs:
                    out.setdefault(name, []).append(attrs["value"])
            elif attrs.get("value"):
                out.setdefault(name, []).append(attrs["value"])
        return out


def card(html: str, tier: str) -> str:
    """One tier's card: its label and its environment select."""
    start = html.index(f'data-tier-card="{tier}"')
    ends = [
        i for i in (html.find('<div class="jh-tier-card', start), html.find("</fieldset>", start)) if i > 0
    ]
    return html[start : min(ends)]


def test_availability_text():
    assert (
        availability(STATE) == "1 of 2 cores free, 10 GiB memory free, no GPU on this site (no NVIDIA driver)"
    )
    one = SiteState(name="x", kind="local", region="r", cpu_total=1, cpu_free=0, memory_total=GiB)
    assert availability(one).startswith("0 of 1 core free, 0 B memory free")


def test_tiers_with_live_availability_and_reasons():
    html = render()
    assert '<input type="radio" name="tier" value="medium" checked>' in html
    assert "1 of 2 cores free" in html
    assert '<label class="jh-tier jh-disabled" data-tier="gpu-1"' in html
    assert "Unavailable: local: needs 1 GPU; no GPU on this site (no NVIDIA driver)" in html
    assert 'value="gpu-1" disabled' in html
    assert "Small &amp; fast" in html and "This &lt;machine&gt;" in html  # escaped
    # each tier offers the environments that can start with it; one that cannot is disabled, with why
    medium = card(html, "medium")
    assert '<select class="form-select" name="environment-medium"' in medium
    assert '<option value="default" selected>default</option>' in medium
    assert (
        '<option value="other" disabled>other (cannot start with this tier now: local: environment '
        "&#39;other&#39; cannot run here: /nowhere/bin/jupyterhub-singleuser not found)</option>" in medium
    )
    assert "environment-gpu-1" not in html  # a tier that cannot start offers nothing to pick


def test_previous_choice_and_notice():
    html = render({"tier": "small"}, notice="Your last choice can no longer be used: <gone>")
    assert 'value="small" checked' in html and 'value="medium" checked' not in html
    assert "Your last choice can no longer be used: &lt;gone&gt;" in html
    # a previous choice that cannot start now falls back to the default
    assert 'value="medium" checked' in render({"tier": "gpu-1"})


def test_a_refused_or_overlong_saved_value_is_never_echoed():
    """A 10 MB value saved by an earlier (refused) spawn comes back neither in the notice nor in the
    text box: the form stays small."""
    catalog = parse_catalog(
        {
            "sites": {"local": {}},
            "tiers": {
                "t": {
                    "cpu": 1,
                    "memory": "1G",
                    "options": {"x": {"unlisted_choice": {"enabled": True, "validation_regex": "[a-z]+"}}},
                }
            },
        }
    )
    huge = "a" * 10_000_000
    notice = f"Your last choice can no longer be used: option 'x': {huge}"
    html = render_form(
        catalog, {"local": STATE}, frozenset(), {"tier": "t", "options": {"x": huge}}, {}, notice
    )
    assert len(html) < 20_000 and "aaaaaaaaaa" * 100 not in html
    assert "Your last choice can no longer be used: option &#39;x&#39;: aaa" in html and "…" in html
    # a value the option refuses is not typed in again either; an accepted one is
    refused = render_form(catalog, {"local": STATE}, frozenset(), {"tier": "t", "options": {"x": "B-1"}}, {})
    assert 'value="B-1"' not in refused
    kept = render_form(catalog, {"local": STATE}, frozenset(), {"tier": "t", "options": {"x": "abc"}}, {})
    assert 'value="abc"' in kept


def test_quote_truncates_user_values():
    assert quote("short") == "'short'"
    long = quote("x" * 10_000_000)
    assert len(long) <= 41 and "…" in long and long.startswith("'xxx")
    assert len(quote(["y" * 1000] * 1000, limit=20)) <= 21
    assert len(quote(10**1000)) <= 41


# --- the hybrid example: price, wait, quota, residency, unreachable sites, datasets, options -----

EXAMPLE_PATH = Path(__file__).parent.parent / "hub_config" / "hybrid-example.yaml"
EXAMPLE = load_catalog(EXAMPLE_PATH)
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
LOCAL = SiteState(
    name="local",
    kind="local",
    region="local",
    display_name="This machine",
    cpu_total=2,
    cpu_free=2,
    memory_total=4 * GiB,
    memory_free=4 * GiB,
)
#: what the real sites say: the clusters run only images, this machine only Python environments
EXAMPLE_PROBLEMS = {
    "datascience": {"onprem-gpu": None, "cloud-eu": None, "local": "it is a container image"},
    "hub-python": {"onprem-gpu": "it has no image", "cloud-eu": "it has no image", "local": None},
    "pytorch": {"onprem-gpu": None, "cloud-eu": None, "local": "it is a container image"},
}
KUBECONFIG_ERROR = "site onprem-gpu: cannot load kubeconfig ~/.kube/config: <missing>"


def down(state: SiteState, error: str = KUBECONFIG_ERROR) -> SiteState:
    return SiteState(
        name=state.name,
        kind=state.kind,
        region=state.region,
        display_name=state.display_name,
        reachable=False,
        error=error,
    )


def example(states=(ONPREM, CLOUD, LOCAL), groups=ML, selected=None, usage=None, catalog=EXAMPLE, **kw):
    return render_form(
        catalog,
        {s.name: s for s in states},
        groups,
        selected or {},
        EXAMPLE_PROBLEMS,
        None,
        usage,
        "alice",
        **kw,
    )


def test_where_price_and_wait_per_tier():
    html = example()
    medium = card(html, "medium")
    assert "would run on <b>On-prem GPU cluster (Frankfurt)</b> (onprem-gpu, region eu-central-1)" in medium
    assert "no hourly charge" in medium and "100 of 128 cores free" in medium
    # on-prem A100s all taken: the cloud adds a node; its per-tier price is shown
    a100 = card(html, "a100-1")
    assert "would run on <b>Cloud &lt;Ireland&gt;</b> (cloud-eu, region eu-west-1), 4.10 EUR/h" in a100
    assert '<div class="jh-wait">starts in about 4 min (a node is added)</div>' in a100
    assert 'value="a100-1" disabled' not in a100


@pytest.mark.parametrize(
    ("currency", "shown"), [(None, "4.1 per hour"), ("USD", "4.10 USD/h"), ("$", "$4.10/h"), ("€", "€4.10/h")]
)
def test_prices_carry_the_catalog_currency(currency, shown):
    catalog = EXAMPLE.model_copy(update={"currency": currency})
    assert f"(cloud-eu, region eu-west-1), {shown}: 16 of 16 cores free" in card(
        example(catalog=catalog), "a100-1"
    )


def test_wording():
    assert [count(n, "core") for n in (0, 0.5, 1, 2)] == ["0 cores", "0.5 cores", "1 core", "2 cores"]
    assert price_text(0) == price_text(None) == price_text(0, "USD") == "no hourly charge"
    assert (price_text(4.1), price_text(4.1, "USD"), price_text(4.1, "$"), price_text(0.005, "$")) == (
        "4.1 per hour",
        "4.10 USD/h",
        "$4.10/h",
        "$0.005/h",
    )
    assert [wait_text(s) for s in (0, 20, 240, 270)] == [
        "about 1 min",
        "about 1 min",
        "about 4 min",
        "about 4 min",
    ]
    assert tier_size(EXAMPLE.tiers["small"]) == "1 core · 2 GiB · no GPU"
    assert tier_size(EXAMPLE.tiers["a100-1"]) == "8 cores · 64 GiB · 1 A100 GPU"
    assert tier_size(EXAMPLE.tiers["a100-mig"]) == "2 cores · 16 GiB · 1 A100 MIG 1g.10gb slice"
    two = EXAMPLE.tiers["a100-1"].model_copy(update={"gpu": 2})
    assert tier_size(two).endswith("2 A100 GPUs")
    assert "1 cores" not in example() and "1 core ·" in example()


def test_quota_reason_when_nothing_may_start():
    html = example(usage=Usage(user_gpus=4))
    a100 = card(html, "a100-1")
    assert "Unavailable: quota: you use 4 of 4 GPUs" in a100 and 'value="a100-1" disabled' in a100
    assert "jh-disabled" not in card(html, "medium")  # CPU tiers are not held back by a GPU quota


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
    us = SiteState(
        name="us",
        kind="local",
        region="us-east-1",
        cpu_total=2,
        cpu_free=2,
        memory_total=4 * GiB,
        memory_free=4 * GiB,
    )
    html = render_form(catalog, {"us": us}, frozenset(), {"datasets": ["claims"]}, {})
    assert "Unavailable: us: dataset &#39;claims&#39; may only be processed in eu-*" in html
    assert '<input type="checkbox" name="datasets" value="claims" checked>' in html
    assert "may be processed in eu-*; stored on us (us-east-1)" in html
    assert '<input type="checkbox" name="datasets" value="hr" disabled>' in html
    assert "dataset &#39;hr&#39; is limited to group(s) hr" in html
    # without the dataset, the tier can start
    assert 'value="t" checked' in render_form(catalog, {"us": us}, frozenset(), {}, {})


def test_unreachable_site_admins_see_the_error_users_one_short_line():
    states = (down(ONPREM, "connection <refused>"), CLOUD, LOCAL)
    admin = example(states=states, admin=True)
    assert (
        '<li data-site="onprem-gpu" class="jh-unreachable"><b>On-prem GPU cluster (Frankfurt)</b> '
        "<small>(onprem-gpu, on-prem, region eu-central-1)</small>: "
        "Unavailable: connection &lt;refused&gt;</li>" in admin
    )
    assert 'data-site="cloud-eu"' in card(admin, "medium")
    user = example(states=states)
    assert "refused" not in user
    assert (
        '<li data-site="onprem-gpu" class="jh-unreachable"><b>On-prem GPU cluster (Frankfurt)</b> '
        "<small>(onprem-gpu, on-prem, region eu-central-1)</small>: unavailable right now</li>" in user
    )
    # both clusters down: a tier that runs only there says so once, by the sites' names
    both = (down(ONPREM), down(CLOUD, "HTTP 401 Unauthorized (the hub's credentials need get/list)"), LOCAL)
    user = example(states=both)
    assert "kube" not in user and "401" not in user
    assert (
        '<div class="jh-why">Unavailable: On-prem GPU cluster (Frankfurt) and Cloud &lt;Ireland&gt; are '
        "unavailable right now</div>" in card(user, "medium")
    )
    admin = example(states=both, admin=True)
    assert admin.count("cannot load kubeconfig ~/.kube/config: &lt;missing&gt;") >= 2
    assert "HTTP 401 Unauthorized" in card(admin, "medium")


def test_readme_example_first_start_succeeds_without_any_cluster():
    """The README's demo: no kubeconfig, so both clusters are unreachable. Small must be preset
    with the environment that runs on this machine (not the catalog's default image), and what
    the form posts as it is (no JavaScript) must start there."""
    states = {s.name: s for s in (down(ONPREM), down(CLOUD), LOCAL)}
    html = render_form(EXAMPLE, states, ML, {}, EXAMPLE_PROBLEMS, None, None, "alice")
    small = card(html, "small")
    assert 'value="small" checked' in small and 'data-site="local"' in small
    assert '<option value="hub-python" selected>Hub&#39;s Python (this machine only)</option>' in small
    assert (
        '<option value="datascience" disabled>Data science (Python 3.12) (cannot start with this tier now'
        in small
    )
    assert "would run on <b>This machine</b> (local, region local), no hourly charge" in small
    posted = Page(html).post()
    assert posted["tier"] == ["small"] and posted["environment-small"] == ["hub-python"]
    options = options_from_form(posted, EXAMPLE)
    assert options == {"tier": "small", "environment": "hub-python"}
    choice = validate_options(EXAMPLE, options, ML)
    request_ok(choice, states, "local")


def request_ok(choice, states, site):
    from jupyter_hybrid.placement import Request

    request = Request("alice", ML, choice.tier, choice.environment, choice.datasets, Usage())
    decision = place_with_environment(EXAMPLE, request, states, EXAMPLE_PROBLEMS)
    assert decision.site == site, decision.reasons


@pytest.mark.parametrize(
    "states",
    [(ONPREM, CLOUD, LOCAL), (down(ONPREM), CLOUD, LOCAL), (down(ONPREM), down(CLOUD), LOCAL)],
    ids=["all-up", "onprem-down", "clusters-down"],
)
def test_every_offered_tier_and_environment_starts_where_the_form_says(states):
    """Never a combination that cannot start: for every tier that may be picked and every
    environment it offers, the form's post places on the site its placement line names."""
    states = {s.name: s for s in states}
    html = render_form(EXAMPLE, states, ML, {}, EXAMPLE_PROBLEMS, None, None, "alice")
    page = Page(html)
    radios = [
        a["value"] for t, a in page.tags if t == "input" and a.get("name") == "tier" and "disabled" not in a
    ]
    assert radios
    for tier in radios:
        select = next(f for f in page.fields if f[1].get("name") == f"environment-{tier}")
        for env in [o["value"] for o in select[2] if "disabled" not in o]:
            posted = {**page.post(tier), f"environment-{tier}": [env]}
            choice = validate_options(EXAMPLE, options_from_form(posted, EXAMPLE), ML)
            assert (choice.tier, choice.environment) == (tier, env)
            line = (
                rf'<div class="jh-where"(?: data-env="{env}")?(?: hidden)?>'
                r"would run on <b>[^<]*</b> \(([a-z-]+),"
            )
            sites = re.findall(line, card(html, tier))
            assert len(sites) == 1, (tier, env, sites)
            request_ok(choice, states, sites[0])


def test_the_environment_posted_is_the_chosen_tiers():
    fields = {"tier": ["medium"], "environment-small": ["hub-python"], "environment-medium": ["pytorch"]}
    assert options_from_form(fields, EXAMPLE)["environment"] == "pytorch"
    # an explicit environment (a query string, an older form) still wins
    assert (
        options_from_form({**fields, "environment": ["datascience"]}, EXAMPLE)["environment"] == "datascience"
    )
    with pytest.raises(ValueError, match="unknown field 'environment-nope'"):
        options_from_form({"tier": ["small"], "environment-nope": ["x"]}, EXAMPLE)


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
    assert 'pattern="[a-z&#34;&lt;&gt;]+"' in html and "&lt;b&gt;X&lt;/b&gt;" in html
    assert 'value="&#34;&gt;&lt;script&gt;"' in html and '"><script>' not in html
    assert 'name="option-x-unlisted" id="jh-opt-t-x"' in html and " required" in html


#: markup, quotes and template syntax: none of it may act in the page
EVIL = "<script>alert(1)</script>\"' onmouseover=alert(2) x='{{ 7*7 }}{% if 1 %}<img src=x onerror=alert(3)>"


def test_every_catalog_text_is_escaped():
    """Every text field of the catalog, and every site's name and error, carries markup, quotes and
    Jinja syntax: the page has exactly our one script, no element or attribute from the payload,
    and the payload as text everywhere it is shown."""
    option = {
        "display_name": EVIL,
        "choices": {"a": {"display_name": EVIL, "default": True}},
        "unlisted_choice": {
            "enabled": True,
            "display_name": EVIL,
            "display_name_in_choices": EVIL,
            "validation_regex": "[a-z<>\"']+",
            "validation_message": EVIL,
        },
    }
    catalog = parse_catalog(
        {
            "sites": {
                "local": {"display_name": EVIL, "description": EVIL, "region": "r"},
                "far": {"kind": "kubernetes", "display_name": EVIL, "region": EVIL, "on_prem": False},
            },
            "tiers": {
                "t": {
                    "display_name": EVIL,
                    "description": EVIL,
                    "cpu": 1,
                    "memory": "1G",
                    "options": {"o": option},
                },
                "g": {"display_name": EVIL, "description": EVIL, "cpu": 1, "memory": "1G", "gpu": 1},
            },
            "environments": {"e": {"display_name": EVIL, "description": EVIL}, "f": {"display_name": EVIL}},
            "datasets": {
                "d": {
                    "display_name": EVIL,
                    "description": EVIL,
                    "regions": [EVIL],
                    "locations": {"local": {"path": "/d"}},
                },
                "h": {"display_name": EVIL, "groups": ["hr"], "locations": {"local": {"path": "/h"}}},
            },
        }
    )
    local = SiteState(
        name="local",
        kind="local",
        region="r",
        display_name=EVIL,
        cpu_total=2,
        cpu_free=2,
        memory_total=4 * GiB,
        memory_free=4 * GiB,
        gpu_reason=EVIL,
    )
    far = SiteState(
        name="far", kind="kubernetes", region=EVIL, display_name=EVIL, reachable=False, error=EVIL
    )
    problems = {"e": {"local": None, "far": EVIL}, "f": {"local": EVIL, "far": EVIL}}
    for admin in (False, True):
        html = render_form(
            catalog,
            {"local": local, "far": far},
            frozenset(),
            {"tier": "t", "options": {"o": EVIL}},
            problems,
            notice=EVIL,
            admin=admin,
        )
        page = Page(html)
        assert [t for t, _ in page.tags if t == "script"] == ["script"]  # ours alone
        assert not [t for t, _ in page.tags if t == "img"]
        assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on") or a == "x"]
        text = "".join(page.text)
        # shown as text: tier, environment, option, choice, dataset and site names, descriptions,
        # the notice, the GPU reason and (to admins) the site's error
        assert text.count(EVIL) >= 12, text.count(EVIL)
        assert "{{" in html and "49" not in text  # template syntax in data is never evaluated


def test_availability_says_what_an_overcommitted_site_may_still_promise():
    from jupyter_hybrid.catalog.model import Overcommit

    busy = SiteState(
        name="local", kind="local", region="r", cpu_total=2, cpu_free=0, memory_total=4 * GiB,
        memory_free=GiB, cpu_reserved=2, memory_reserved=3 * GiB,
    )  # fmt: skip
    plain = availability(busy, overcommit=Overcommit())
    assert plain.startswith("0 of 2 cores free, 1 GiB memory free") and "promised" not in plain
    line = availability(busy, overcommit=Overcommit(cpu=2))
    assert line.startswith("0 of 2 cores free (2 of 4 cores promised, overcommit 2×), 1 GiB memory free,")
