"""A real JupyterHub (the demo config) records its servers in the store it shares with the
control-plane service: a row while a server runs, the same one row after a hub restart, none once
the server stops."""

from __future__ import annotations

import pytest

from jupyter_hybrid.store import Ledger, make_engine

from .hubtools import Hub

pytestmark = pytest.mark.hub


def rows(hub: Hub) -> list[tuple]:
    engine = make_engine(f"sqlite:///{(hub.workdir / 'state').resolve() / 'hybrid.sqlite'}")
    try:
        return [(r.kind, r.ref, r.owner, r.site, r.tier, r.gpus) for r in Ledger(engine).held()]
    finally:
        engine.dispose()


def test_the_hub_records_its_servers_in_the_shared_ledger(tmp_path):
    hub = Hub(tmp_path, extra_config="c.JupyterHub.cleanup_servers = False").start()
    try:
        hub.api("POST", "/users/erin")
        assert hub.api("POST", "/users/erin/server", json={"tier": "small"}).status_code in (201, 202)
        hub.wait_ready("erin")
        held = [("server", "erin/", "erin", "local", "small", [])]
        assert rows(hub) == held
        assert hub.stop() == 0  # the server keeps running (cleanup off): so does its row
        assert rows(hub) == held
        hub.start()
        hub.wait_ready("erin")
        assert rows(hub) == held  # held again on load_state: still one row
        assert hub.api("DELETE", "/users/erin/server").status_code in (202, 204)
        hub.wait_stopped("erin")
        assert rows(hub) == []
    finally:
        hub.stop()
