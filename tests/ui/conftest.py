"""Fixtures for the browser tests: Debian chromium driven by Playwright, and screenshots."""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from ..hubtools import ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "ui-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    # Fail, not skip: CI installs chromium (make install), so a missing browser is a broken setup.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (it installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


# pytest_jupyter (tests/conftest.py) adds autouse fixtures for in-process servers that close the
# current asyncio loop after each test; under Playwright's sync API that is Playwright's running
# loop. These tests run no in-process server, so turn them off here.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@contextlib.contextmanager
def run_lab(tmp_path, args=(), env=None, ready_line=None, app="lab"):
    """`jupyter lab` (or, with ``app="notebook"``, Jupyter Notebook 7) without a hub: fresh jupyter
    dirs (no saved workspace), its own snapshot database, output in ``tmp_path/lab.log``. Yields
    ``(base_url, token)`` once it answers (and, with ``ready_line``, once that line is in its log)."""
    port, token = free_port(), "ui-test-token-0123456789"
    log_path = tmp_path / "lab.log"
    root = tmp_path / "root"
    root.mkdir()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    for name in ("CONFIG", "DATA", "RUNTIME"):
        full_env[f"JUPYTER_{name}_DIR"] = str(tmp_path / name.lower())
    full_env["JUPYTER_HYBRID_DB_URL"] = f"sqlite:///{tmp_path / 'hybrid.sqlite'}"
    full_env.update(env or {})
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        app,
        "--no-browser",
        f"--port={port}",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        *args,
        "--allow-root",  # CI and dev containers run as root; Jupyter refuses root without it
    ]
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if ready_line and ready_line not in log_path.read_text():
            return False
        try:
            return requests.get(f"{base}/api/status?token={token}", timeout=2).ok
        except requests.ConnectionError:
            return False

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while not answers():
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield base, token
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def plain_lab(tmp_path):
    """A plain `jupyter lab` (see run_lab). Yields ``(url, db_url, owner)``; owner is the user the
    server stores snapshots for outside a hub."""
    with run_lab(tmp_path) as (base, token):
        yield f"{base}/lab?token={token}", f"sqlite:///{tmp_path / 'hybrid.sqlite'}", getpass.getuser()
