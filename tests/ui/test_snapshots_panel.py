"""Browser test (Debian chromium through Playwright) of the "Snapshots" side panel in plain `jupyter lab`.

Capture the python3 kernel's environment from the panel, add a second, edited snapshot to the same
store from the test process, and diff the two from the panel. Capture the same environment again
under a new name: the panel says it is identical to 'base', keeps that name, and renames it only
when asked. Restore a colleague's shared snapshot that installs from a URL: the panel lists the
source and asks first. Screenshots: ui-artifacts/snapshots-panel.png, snapshots-identical.png,
snapshots-trust.png.
"""

from __future__ import annotations

import getpass

import pytest

from .test_browser import LAB_TIMEOUT_MS

pytestmark = pytest.mark.ui

TAB = 'li.lm-TabBar-tab[data-id="jupyter-hybrid-snapshots"]'
PANEL = "#jupyter-hybrid-snapshots"
CAPTURE_TIMEOUT_MS = 120_000


def reopen(page):
    """Hide and show the panel: it reloads the kernels and the snapshot list when shown."""
    tab = page.locator(TAB)
    if page.locator(PANEL).is_visible():
        tab.click()
        page.locator(PANEL).wait_for(state="hidden")
    tab.click()
    page.locator(PANEL).wait_for(state="visible")


def save_changed_copy(db_url: str, owner: str, sid: str) -> tuple[str, tuple[str, str, str], str]:
    """Save a copy of snapshot ``sid`` with one package's version changed and another removed.

    Returns (new id, (changed name, old version, new version), removed name).
    """
    from jupyter_hybrid.snapshots.model import Snapshot
    from jupyter_hybrid.store.db import make_engine
    from jupyter_hybrid.store.snapshots import SnapshotStore

    engine = make_engine(db_url)
    try:
        store = SnapshotStore(engine)
        snap = Snapshot.model_validate(store.get(owner, sid))
        assert len(snap.packages) >= 2, snap.packages
        first, second = snap.packages[0], snap.packages[1]
        bumped = first.model_copy(update={"version": first.version + ".post999"})
        packages = [bumped, *snap.packages[2:]]
        copy = snap.model_copy(update={"id": "", "packages": packages})
        copy = Snapshot.model_validate(copy.model_dump(mode="json"))  # recomputes the id
        assert copy.id and copy.id != snap.id
        saved = store.save(owner, copy.model_dump(mode="json"), name="changed")
        return saved["id"], (bumped.name, first.version, bumped.version), second.name
    finally:
        engine.dispose()


def save_colleagues_snapshot(db_url: str, sid: str, source: str) -> str:
    """Save, as user "colleague" and shared, a copy of ``sid`` that installs one package from ``source``."""
    from jupyter_hybrid.snapshots.model import Package, Snapshot
    from jupyter_hybrid.store.db import make_engine
    from jupyter_hybrid.store.snapshots import SnapshotStore

    engine = make_engine(db_url)
    try:
        store = SnapshotStore(engine)
        snap = Snapshot.model_validate(store.get(getpass.getuser(), sid))
        tool = Package(name="colleague-tool", version="1.0", installer="pip", source=source)
        copy = Snapshot.model_validate(
            {**snap.model_dump(mode="json"), "id": "", "packages": [tool.model_dump()]}
        )
        saved = store.save("colleague", copy.model_dump(mode="json"), name="colleagues-env")
        store.share("colleague", saved["id"], True)
        return saved["id"]
    finally:
        engine.dispose()


def test_capture_and_diff_snapshots(plain_lab, page, artifacts):
    url, db_url, owner = plain_lab
    page.goto(url)
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    panel = page.locator(PANEL)
    kernel = panel.locator("select.jp-HybridSnapshots-kernel")
    # The kernel choices are filled when the panel is shown; the kernelspecs may still be loading.
    for _ in range(20):
        reopen(page)
        if kernel.locator('option[value="python3"]').count():
            break
        page.wait_for_timeout(500)
    kernel.select_option("python3")
    panel.locator(".jp-HybridSnapshots-name").fill("base")
    panel.locator(".jp-HybridSnapshots-capture").click()

    status = panel.locator("p.jp-HybridSnapshots-status")
    page.wait_for_function(
        "el => /Captured|failed/.test(el.textContent)",
        arg=status.element_handle(),
        timeout=CAPTURE_TIMEOUT_MS,
    )
    assert "Captured" in status.inner_text(), status.inner_text()
    items = panel.locator("ul.jp-HybridSnapshots-list li.jp-HybridSnapshots-item")
    items.first.wait_for()
    assert items.count() == 1, panel.inner_text()[:2000]
    base_id = items.first.get_attribute("data-id")
    assert base_id and len(base_id) == 64
    assert "base" in items.first.inner_text()

    changed_id, (name, old, new), removed = save_changed_copy(db_url, owner, base_id)

    reopen(page)
    page.locator(f'li.jp-HybridSnapshots-item[data-id="{changed_id}"]').wait_for()
    assert items.count() == 2, panel.inner_text()[:2000]

    diff_button = panel.locator("button.jp-HybridSnapshots-diff")
    assert diff_button.is_disabled()
    for sid in (base_id, changed_id):
        page.locator(f'li.jp-HybridSnapshots-item[data-id="{sid}"] input[type=checkbox]').check()
    assert diff_button.is_enabled()
    diff_button.click()

    output = panel.locator("pre.jp-HybridSnapshots-output")
    page.wait_for_function("el => el.textContent.includes('~ ')", arg=output.element_handle())
    page.screenshot(path=artifacts / "snapshots-panel.png")
    text = output.inner_text()
    lines = text.splitlines()
    # older -> newer: the base is the older snapshot
    assert lines[:2] == [f"--- {base_id[:12]}", f"+++ {changed_id[:12]}"], text
    assert f"~ {name} {old} -> {new}" in lines, text
    assert any(line.startswith(f"- {removed} ") for line in lines), text
    assert "jp-mod-error" not in (status.get_attribute("class") or ""), status.inner_text()

    # the same environment again, under a new name: identical to 'base', which keeps its name
    panel.locator(".jp-HybridSnapshots-name").fill("again")
    panel.locator(".jp-HybridSnapshots-capture").click()
    page.wait_for_function(
        "el => /Identical|Captured|failed/.test(el.textContent)",
        arg=status.element_handle(),
        timeout=CAPTURE_TIMEOUT_MS,
    )
    assert status.inner_text().startswith("Identical to the existing snapshot 'base'"), status.inner_text()
    base_item = page.locator(f'li.jp-HybridSnapshots-item[data-id="{base_id}"]')
    assert "base" in base_item.inner_text() and "again" not in base_item.inner_text()
    assert items.count() == 2
    page.screenshot(path=artifacts / "snapshots-identical.png")
    status.locator("button", has_text="Rename to 'again'").click()
    page.wait_for_function("el => /Renamed|failed/.test(el.textContent)", arg=status.element_handle())
    assert status.inner_text().startswith("Renamed 'base' to 'again'"), status.inner_text()
    page.wait_for_function("el => el.textContent.includes('again')", arg=base_item.element_handle())

    # a colleague's shared snapshot that installs from a URL: the panel asks before restoring
    source = "url:https://example.invalid/colleague_tool-1.0.tar.gz"
    shared_id = save_colleagues_snapshot(db_url, base_id, source)
    reopen(page)
    shared = page.locator(f'li.jp-HybridSnapshots-item[data-id="{shared_id}"]')
    shared.wait_for()

    def restore_until_trust_dialog():
        shared.locator("button", has_text="Restore").click()
        page.locator(".jp-Dialog").wait_for()
        page.locator(".jp-Dialog button.jp-mod-accept").click()  # the kernel name, as proposed
        trust = page.locator(".jp-Dialog", has_text="Install from these sources?")
        page.wait_for_function(
            "el => el.textContent.includes('failed') || document.querySelector('.jp-Dialog')",
            arg=status.element_handle(),
        )
        assert trust.count() == 1, status.inner_text()
        return page.locator(".jp-Dialog")

    dialog = restore_until_trust_dialog()
    assert "colleague-tool 1.0 from https://example.invalid/colleague_tool-1.0.tar.gz" in dialog.inner_text()
    page.screenshot(path=artifacts / "snapshots-trust.png")
    dialog.locator("button.jp-mod-reject").click()
    dialog.wait_for(state="detached")
    assert "cancelled: its sources were not trusted" in status.inner_text(), status.inner_text()

    dialog = restore_until_trust_dialog()
    dialog.locator("button.jp-mod-warn").click()  # trust: the restore is posted again and starts
    dialog.wait_for(state="detached")
    page.wait_for_function(
        "el => /Restore failed|Restored/.test(el.textContent)", arg=status.element_handle(), timeout=120_000
    )
    # it ran (pip cannot reach example.invalid) instead of being refused for trust again
    assert (
        "trust" not in status.inner_text() and "colleague_tool" in status.inner_text() + output.inner_text()
    )
