"""The server extension through a real jupyter-server (pytest-jupyter)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_hybrid.server.info import NOT_UNDER_HUB, server_info


async def test_info_outside_a_hub(jp_fetch, monkeypatch):
    for var in ("JUPYTER_HYBRID_TIER", "JUPYTER_HYBRID_SITE", "JUPYTER_HYBRID_ENVIRONMENT"):
        monkeypatch.delenv(var, raising=False)
    response = await jp_fetch("jupyter-hybrid", "info")
    info = json.loads(response.body)
    assert info["under_hub"] is False and info["tier"] is None
    assert "not running under a hub" in info["message"]


async def test_info_under_the_hub(jp_fetch, monkeypatch):
    env = {
        "JUPYTER_HYBRID_TIER": "medium",
        "JUPYTER_HYBRID_SITE": "local",
        "JUPYTER_HYBRID_ENVIRONMENT": "default",
        "CPU_LIMIT": "2.0",
        "MEM_LIMIT": "4294967296",
        "JUPYTER_HYBRID_GPUS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    info = json.loads((await jp_fetch("jupyter-hybrid", "info")).body)
    assert (info["tier"], info["site"], info["environment"]) == ("medium", "local", "default")
    assert info["limits"] == {"cpu": 2.0, "memory": 4294967296, "gpus": 0}


@pytest.mark.parametrize("auth", ["", "token not-the-token"])
async def test_no_token_is_refused(jp_fetch, auth):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "info", headers={"Authorization": auth})
    assert e.value.code in (401, 403)


def test_info_ignores_malformed_limits():
    info = server_info({"JUPYTER_HYBRID_TIER": "x", "MEM_LIMIT": "lots", "CPU_LIMIT": ""})
    assert info["limits"] == {"cpu": None, "memory": None, "gpus": None}
    assert server_info({})["message"] == NOT_UNDER_HUB
