"""user_options: the form is never trusted; REST and saved options get the same checks."""

from __future__ import annotations

import pytest

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.spawner.options import (
    Choice,
    OptionsError,
    option_overrides,
    options_from_form,
    validate_options,
)

CATALOG = parse_catalog(
    {
        "sites": {"local": {}},
        "tiers": {
            "small": {"cpu": 1, "memory": "2G"},
            "medium": {"cpu": 2, "memory": "4G", "default": True},
            "gpu-1": {"cpu": 2, "memory": "8G", "gpu": 1, "groups": ["gpu-users"]},
        },
        "environments": {
            "default": {"default": True},
            "secret": {"python": "/opt/secret", "groups": ["team-x"]},
        },
    }
)
NOBODY = frozenset()


def test_form_fields_to_options():
    assert options_from_form({"tier": ["small"], "environment": ["default"], "_xsrf": ["t"]}) == {
        "tier": "small",
        "environment": "default",
    }
    with pytest.raises(OptionsError, match="unknown field 'image'"):
        options_from_form({"tier": ["small"], "image": ["evil"]})
    with pytest.raises(OptionsError, match="exactly one value"):
        options_from_form({"tier": ["small", "medium"]})


def test_defaults_when_nothing_is_chosen():
    assert validate_options(CATALOG, {}, NOBODY) == Choice("medium", "default")
    assert validate_options(CATALOG, None, NOBODY) == Choice("medium", "default")


def test_group_members_get_restricted_items():
    groups = frozenset({"gpu-users", "team-x"})
    assert validate_options(CATALOG, {"tier": "gpu-1", "environment": "secret"}, groups) == Choice(
        "gpu-1", "secret"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"tier": "huge"},
            "tier 'huge' is not in the catalog (it may have been removed); choose one of: small, medium",
        ),
        ({"tier": "gpu-1"}, "tier 'gpu-1' is limited to group(s) gpu-users; you are in no group"),
        ({"environment": "secret"}, "environment 'secret' is limited to group(s) team-x"),
        ({"tier": 3}, "tier must be a name (a string), got int"),
        ({"tier": "small", "image": "x", "node_selector": {}}, "unknown option(s) 'image', 'node_selector'"),
        (["small"], "user_options must be a JSON object"),
    ],
)
def test_refusals_say_what_to_do(options, message):
    with pytest.raises(OptionsError) as e:
        validate_options(CATALOG, options, NOBODY)
    assert message in str(e.value)


def test_nothing_allowed():
    catalog = parse_catalog(
        {"sites": {"local": {}}, "tiers": {"t": {"cpu": 1, "memory": "1G", "groups": ["g"]}}}
    )
    with pytest.raises(OptionsError, match="no tier is available to you"):
        validate_options(catalog, {}, NOBODY)


# --- datasets and tier options (issue #5) ------------------------------------------------------

IMAGE_OPTION = {
    "display_name": "Image",
    "choices": {
        "v1": {"display_name": "v1", "kubespawner_override": {"image": "quay.io/ok:1"}},
        "v2": {"default": True, "kubespawner_override": {"image": "quay.io/ok:2", "env": {"V": "2"}}},
    },
    "unlisted_choice": {
        "enabled": True,
        "validation_regex": r"quay\.io/ok:[0-9]+",
        "kubespawner_override": {"image": "{value}", "env": {"IMAGE": "was {value}"}, "cpu_guarantee": 1},
    },
}
HYBRID = parse_catalog(
    {
        "sites": {"onprem": {"region": "eu-central-1"}, "cloud": {"region": "us-east-1", "on_prem": False}},
        "tiers": {
            "cpu": {"cpu": 1, "memory": "1G", "default": True},
            "gpu": {
                "cpu": 2,
                "memory": "8G",
                "gpu": 1,
                "environments": ["torch"],
                "options": {
                    "image": IMAGE_OPTION,
                    "tag": {
                        "unlisted_choice": {
                            "enabled": True,
                            "validation_regex": "ok-prefix",
                            "validation_message": "must be exactly ok-prefix",
                            "kubespawner_override": {"image_pull_policy": "{value}"},
                        }
                    },
                },
            },
        },
        "environments": {"base": {"default": True}, "torch": {}, "secret": {"groups": ["team-x"]}},
        "datasets": {
            "claims": {"regions": ["eu-*"], "locations": {"onprem": {"path": "/data/claims"}}},
            "hr": {"groups": ["hr"], "locations": {"onprem": {"path": "/data/hr"}}},
        },
    }
)
GPU = {"tier": "gpu", "options": {"tag": "ok-prefix"}}


def test_datasets_and_options_accepted():
    choice = validate_options(HYBRID, {**GPU, "datasets": ["claims", "claims"]}, NOBODY)
    assert choice == Choice("gpu", "torch", ("claims",), {"image": "v2", "tag": "ok-prefix"})
    choice = validate_options(
        HYBRID, {"tier": "gpu", "options": {"image": "quay.io/ok:17", "tag": "ok-prefix"}}, NOBODY
    )
    assert choice.options["image"] == "quay.io/ok:17"
    assert Choice.from_dict(choice.to_dict()) == choice  # kept in the spawner's state


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tier": "cpu", "site": "cloud"}, "unknown option(s) 'site'; allowed: tier, environment"),
        ({"tier": "cpu", "image": "evil"}, "unknown option(s) 'image'"),
        (
            {"tier": "gpu", "environment": "base"},
            "environment 'base' is not offered with this tier; choose one of: torch",
        ),
        ({"tier": "cpu", "environment": "secret"}, "limited to group(s) team-x"),
        ({"datasets": ["nope"]}, "dataset 'nope' is not in the catalog; choose from: claims"),
        ({"datasets": ["hr"]}, "dataset 'hr' is limited to group(s) hr; you are in no group"),
        ({"datasets": "claims"}, "datasets must be a list of dataset names"),
        ({"datasets": [1]}, "datasets must be a list of dataset names"),
        (
            {"tier": "cpu", "options": {"image": "v1"}},
            "tier 'cpu' has no option(s) 'image'; its options: none",
        ),
        ({**GPU, "options": {"tag": "ok-prefix", "gpu": "2"}}, "tier 'gpu' has no option(s) 'gpu'"),
        ({**GPU, "options": ["v1"]}, "options must be a JSON object"),
        ({**GPU, "options": {"tag": "ok-prefix", "image": 3}}, "option 'image' must be a string, got int"),
        ({"tier": "gpu"}, "option 'tag' of tier 'gpu' needs a value"),
        # the regex must match the WHOLE value (re.match would accept these)
        ({**GPU, "options": {"tag": "ok-prefix-then-anything"}}, "option 'tag': must be exactly ok-prefix"),
        ({**GPU, "options": {"tag": "ok-prefix\n"}}, "may not contain control characters"),
        (
            {**GPU, "options": {"tag": "ok-prefix", "image": "quay.io/ok:1\nevil"}},
            "may not contain control characters (such as a newline)",
        ),
        (
            {**GPU, "options": {"tag": "ok-prefix", "image": "quay.io/ok:1-evil"}},
            r"option 'image': 'quay.io/ok:1-evil' must match quay\.io/ok:[0-9]+",
        ),
        (
            {**GPU, "options": {"tag": "ok-prefix", "image": "evil.io/quay.io/ok:1"}},
            r"must match quay\.io/ok:[0-9]+",
        ),
        ({**GPU, "options": {"tag": "ok-prefix", "image": "quay.io/ok:{0}"}}, "{ or }"),
        (
            {**GPU, "options": {"tag": "ok-prefix", "image": "quay.io/ok:" + "1" * 600}},
            "at most 512 are allowed",
        ),
    ],
)
def test_crafted_values_are_refused(options, message):
    with pytest.raises(OptionsError) as e:
        validate_options(HYBRID, options, NOBODY)
    assert message in str(e.value)


def test_unlisted_values_need_an_enabled_unlisted_choice():
    catalog = parse_catalog(
        {
            "sites": {"local": {}},
            "tiers": {"t": {"cpu": 1, "memory": "1G", "options": {"size": {"choices": {"s": {}, "m": {}}}}}},
        }
    )
    with pytest.raises(
        OptionsError, match="option 'size': 'xl' is not one of its choices; choose one of: s, m"
    ):
        validate_options(catalog, {"options": {"size": "xl"}}, NOBODY)
    assert validate_options(catalog, {}, NOBODY).options == {"size": "s"}


def test_overrides_from_choices_and_templated_unlisted_value():
    tier = HYBRID.tiers["gpu"]
    assert option_overrides(tier, {"image": "v2", "tag": "ok-prefix"}) == {
        "image": "quay.io/ok:2",
        "env": {"V": "2"},
        "image_pull_policy": "ok-prefix",
    }
    # {value} only in string values, by plain replacement (no str.format on the user's value)
    assert option_overrides(tier, {"image": "quay.io/ok:9"}) == {
        "image": "quay.io/ok:9",
        "env": {"IMAGE": "was quay.io/ok:9"},
        "cpu_guarantee": 1,
    }
    # the catalog's own overrides are not changed by building one
    assert HYBRID.tiers["gpu"].options["image"].choices["v2"].kubespawner_override["env"] == {"V": "2"}


def test_form_fields_for_datasets_and_options():
    form = {
        "tier": ["gpu"],
        "environment": ["torch"],
        "datasets": ["claims", "hr"],
        "option-image": ["__other__"],
        "option-image-unlisted": [" quay.io/ok:3 "],
        "option-tag-unlisted": ["ok-prefix"],
        "_xsrf": ["x"],
    }
    assert options_from_form(form, HYBRID) == {
        "tier": "gpu",
        "environment": "torch",
        "datasets": ["claims", "hr"],  # checked later, against the user's groups
        "options": {"image": "quay.io/ok:3", "tag": "ok-prefix"},
    }
    # a listed choice wins over text left in the Other box
    form["option-image"] = ["v1"]
    assert options_from_form(form, HYBRID)["options"]["image"] == "v1"


def test_form_fields_of_other_tiers_and_unknown_fields():
    # a browser without JavaScript posts the previous tier's option fields: ignored
    assert options_from_form({"tier": ["cpu"], "option-image": ["v1"]}, HYBRID) == {"tier": "cpu"}
    with pytest.raises(OptionsError, match="unknown field 'option-gpus'; no tier has an option 'gpus'"):
        options_from_form({"tier": ["gpu"], "option-gpus": ["8"]}, HYBRID)
    with pytest.raises(OptionsError, match="you chose Other... but typed no value"):
        options_from_form(
            {"tier": ["gpu"], "option-image": ["__other__"], "option-image-unlisted": [""]}, HYBRID
        )
    with pytest.raises(OptionsError, match="unknown field 'site'"):
        options_from_form({"tier": ["gpu"], "site": ["cloud"]}, HYBRID)
    with pytest.raises(OptionsError, match="exactly one value"):
        options_from_form({"tier": ["gpu"], "option-image": ["v1", "v2"]}, HYBRID)


# --- huge values (issue 9 item 1): refused first, never echoed whole ------------------------------

HUGE = "a" * 10_000_000
SHORT = 400  # longest message any of these may give


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tier": HUGE}, "tier 'aaaa"),
        ({"tier": HUGE, "site": "x"}, "tier 'aaaa"),  # before the unknown-key check
        ({"environment": HUGE, "tier": 3}, "environment 'aaaa"),  # before the type check
        ({"tier": "gpu", HUGE: 1}, "option name 'aaaa"),
        ({"datasets": [HUGE]}, "dataset 'aaaa"),
        ({"datasets": ["claims"] * 3}, "3 datasets asked for; the catalog has 2"),
        ({"tier": "gpu", "options": {HUGE: "v1"}}, "tier option 'aaaa"),
        ({"tier": "gpu", "options": {"image": HUGE}}, "option 'image': 'aaaa"),
        ({"tier": "gpu", "options": {str(i): "x" for i in range(1000)}}, "1,000 tier options given"),
    ],
)
def test_overlong_values_are_refused_before_anything_else_and_quoted_short(options, message):
    with pytest.raises(OptionsError) as e:
        validate_options(HYBRID, options, NOBODY)
    text = str(e.value)
    assert message in text and len(text) < SHORT, text[:SHORT]
    if "characters long" in text:
        assert "…" in text and "at most" in text


def test_many_unknown_names_are_listed_short():
    options = {f"key-{i}": 1 for i in range(10_000)}
    with pytest.raises(OptionsError) as e:
        validate_options(HYBRID, options, NOBODY)
    assert "and 9995 more" in str(e.value) and len(str(e.value)) < SHORT
    with pytest.raises(OptionsError) as e:
        validate_options(HYBRID, {**GPU, "options": {"x" * 60: "1", "tag": "ok-prefix"}}, NOBODY)
    assert len(str(e.value)) < SHORT


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"tier": [HUGE]}, "field 'tier': 'aaaa"),
        ({"tier": ["gpu"], "environment": [HUGE]}, "field 'environment': 'aaaa"),
        ({HUGE: ["x"]}, "form field 'aaaa"),
        ({"tier": ["gpu"], "option-" + "x" * 100: ["v1"]}, "form field 'option-xxx"),
        ({"tier": ["gpu"], "option-image-unlisted": [HUGE]}, "at most 512 are allowed"),
        ({"tier": ["gpu"], "datasets": [HUGE]}, "field 'datasets': 'aaaa"),
        ({"tier": ["gpu"], "datasets": ["claims"] * 1000}, "1,000 datasets posted; the catalog has 2"),
        ({"tier": ["gpu"], "x" * 70: ["1"]}, "unknown field 'xxxx"),
    ],
)
def test_overlong_form_fields_are_refused_first_and_quoted_short(form, message):
    with pytest.raises(OptionsError) as e:
        options_from_form(form, HYBRID)
    text = str(e.value)
    assert message in text and len(text) < SHORT, text[:SHORT]
