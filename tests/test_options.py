"""user_options: the form is never trusted; REST and saved options get the same checks."""

from __future__ import annotations

import pytest

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.spawner.options import Choice, OptionsError, options_from_form, validate_options

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
        ({"tier": "small", "image": "x", "node_selector": {}}, "unknown option(s) image, node_selector"),
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
