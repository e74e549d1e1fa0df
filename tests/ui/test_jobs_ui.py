"""Browser test (Debian chromium through Playwright) of scheduled jobs in plain `jupyter lab`.

Publish a notebook with a `parameters` cell from its toolbar button: the dialog has one typed input
per declared parameter (type, default, help), tiers with their availability (gpu-1 disabled, with
the reason), and shows the server's 400 under the field it names without closing. Publish it
"once, now" with changed parameters: the run appears in the Jobs panel, its live log shows "cell N
of M" and the run's stdout and stderr, the output opens read-only (no kernel started) and
downloads. A notebook without a parameters cell, published from the file browser's context menu,
says any name is injected at the top. Then the same in the dark theme, the dialog opened from the
palette. The HTML output opens in a browser tab, rendered. Each job action from the panel (pause,
resume, Run now with an override, Run again, Cancel, New version, Delete removing the runs),
checked against the server. Notebook 7: the toolbar button publishes, the Jobs panel follows the
run. Screenshots: ui-artifacts/jobs-publish-dialog-<light|dark>.png, jobs-panel-<light|dark>.png,
jobs-publish-error.png, jobs-output.png, jobs-no-parameters-cell.png, jobs-actions.png,
notebook7-jobs.png.
"""

from __future__ import annotations

import json

import nbformat
import pytest
import requests

from .conftest import run_lab
from .test_browser import LAB_TIMEOUT_MS
from .test_commands import palette_run

pytestmark = pytest.mark.ui

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
PANEL = "#jupyter-hybrid-jobs"
TAB = 'li.lm-TabBar-tab[data-id="jupyter-hybrid-jobs"]'
DIALOG = ".jp-Dialog .jp-HybridJobs-publish"
RUN_TIMEOUT_MS = 120_000
NO_CELL = "This notebook has no cell tagged parameters: any name you add is injected at the top"


def write_notebooks(root):
    params = nbformat.v4.new_code_cell(
        'alpha = 0.5  # learning rate\nlabel: str = "hello"  # what to print\ncount = 2\nflag = False'
    )
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import sys, time\n"
        "for i in range(count):\n"
        "    print(label, i, alpha * i, flush=True)\n"
        "    time.sleep(0.5)\n"
        "print('warned on stderr', file=sys.stderr)"
    )
    nb = nbformat.v4.new_notebook(cells=[params, body, nbformat.v4.new_code_cell("alpha * count")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "report.ipynb")
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('plain')")])
    plain.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(plain, root / "plain.ipynb")


@pytest.fixture
def lab(tmp_path):
    with run_lab(tmp_path) as (base, token):
        write_notebooks(tmp_path / "root")
        yield base, token


def set_theme(base, headers, theme):
    body = {"raw": json.dumps({"theme": THEMES[theme]})}
    url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:themes"
    assert requests.put(url, json=body, headers=headers).status_code == 204


def open_lab(page, url, theme):
    page.goto(url)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    page.wait_for_function(f"document.body.dataset.jpThemeName === {THEMES[theme]!r}")


def field(page, name):
    return page.locator(f'{DIALOG} [data-field="{name}"]')


def submit(page):
    page.locator(".jp-Dialog-footer button.jp-mod-accept").click()


def check_dialog(page):
    """The dialog generated from report.ipynb's parameters cell and the catalog's tiers."""
    page.locator(DIALOG).wait_for(timeout=30_000)
    assert page.locator(f"{DIALOG} [data-field=name] input").input_value() == "report"
    params = {
        n.get_attribute("data-field"): n.get_attribute("data-type")
        for n in page.locator(f"{DIALOG} .jp-HybridJobs-param").all()
    }
    assert params == {"alpha": "float", "label": "str", "count": "int", "flag": "bool"}, params
    assert "float, default 0.5 — learning rate" in field(page, "alpha").inner_text()
    assert "str, default hello — what to print" in field(page, "label").inner_text()
    # tiers as the spawn form offers them: gpu-1 is there, disabled, with its reason
    gpu = page.locator(f'{DIALOG} select.jp-HybridJobs-tier option[value="gpu-1"]')
    assert gpu.is_disabled()
    assert "Unavailable: " in field(page, "tier").inner_text()
    assert page.locator(f"{DIALOG} select.jp-HybridJobs-tier").input_value() == "small"


def error_under(page, name):
    return field(page, name).locator(".jp-HybridJobs-fieldError").inner_text()


def refused_then_published(page, base, headers, artifacts):
    """Bad input is refused under its field and nothing is created; then "once, now"."""
    page.locator(f"{DIALOG} input[data-choice=cron]").check()
    page.locator(f"{DIALOG} input.jp-HybridJobs-cron").fill("61 * * * *")
    page.locator(f'{DIALOG} [data-param="count"]').fill("two")  # checked here: not a number
    submit(page)
    assert "whole number" in error_under(page, "count")
    page.locator(f'{DIALOG} [data-param="count"]').fill("3")
    webhook = page.locator(f"{DIALOG} [data-field=webhook] input.jp-HybridJobs-input")
    webhook.fill("ftp://hooks.example.com")
    submit(page)  # the server's 400, each part under its field
    field(page, "schedule").locator(".jp-HybridJobs-fieldError").wait_for(timeout=10_000)
    assert "not a valid cron expression" in error_under(page, "schedule")
    assert "not an http(s) URL" in error_under(page, "webhook")
    page.locator(".jp-Dialog-content").screenshot(path=artifacts / "jobs-publish-error.png")
    assert requests.get(f"{base}/jupyter-hybrid/jobs", headers=headers).json()["jobs"] == []

    page.locator(f"{DIALOG} input[data-choice=once]").check()
    webhook.fill("")
    page.locator(f'{DIALOG} [data-param="alpha"]').fill("2")
    page.locator(f'{DIALOG} [data-param="label"]').fill("from the dialog")
    submit(page)
    page.locator(DIALOG).wait_for(state="detached", timeout=20_000)


def follow_the_run(page):
    """The job is listed, its run appears and the live log follows it to the end."""
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    job = panel.locator('.jp-HybridJobs-job[data-job="report"]')
    job.wait_for()
    assert "once, when published" in job.inner_text()
    panel.locator(".jp-HybridJobs-run").first.wait_for(timeout=30_000)
    log = panel.locator(".jp-HybridJobs-log")
    log.wait_for(state="visible")
    page.wait_for_function("el => el.dataset.done", arg=log.element_handle(), timeout=RUN_TIMEOUT_MS)
    assert log.get_attribute("data-done") == "completed", log.inner_text()
    text = log.locator(".jp-HybridJobs-logText").inner_text()
    assert "from the dialog 0 0.0" in text and "from the dialog 2 4.0" in text, text
    assert "warned on stderr" in log.locator(".jp-HybridJobs-log-stderr").all_inner_texts()[0]
    assert "cell 4 of 4" in log.locator(".jp-HybridJobs-logProgress").inner_text()
    page.wait_for_function(
        "el => el.dataset.status === 'completed' && el.querySelector('[data-action=open]')",
        arg=panel.locator(".jp-HybridJobs-run").first.element_handle(),
        timeout=30_000,
    )
    run = panel.locator(".jp-HybridJobs-run").first
    params = run.locator("[data-field=parameters]").inner_text()
    assert "alpha=2" in params and '"from the dialog"' in params and "count=3" in params, params
    assert "small on local" in run.locator("[data-field=where]").inner_text()
    return run


def open_and_download(page, run, base, headers, artifacts):
    """The output opens read-only, with no kernel started for it, and downloads as ipynb."""
    run.locator("[data-action=open]").click()
    output = page.locator(".jp-NotebookPanel:visible")
    output.locator(".jp-OutputArea-output", has_text="from the dialog 2 4.0").wait_for(timeout=30_000)
    assert output.locator(".jp-NotebookPanel-toolbar", has_text="read-only").count() == 1
    page.screenshot(path=artifacts / "jobs-output.png")
    sessions = requests.get(f"{base}/api/sessions", headers=headers).json()
    assert [s["path"] for s in sessions if s["path"].startswith("JobOutput:")] == [], sessions
    with page.expect_download() as download:
        run.locator("[data-action=download-ipynb]").click()
    with open(download.value.path()) as f:
        nb = json.load(f)
    assert "from the dialog" in json.dumps(nb["cells"])


def no_parameters_cell(page, artifacts):
    """plain.ipynb, from the file browser's context menu: any name is injected at the top."""
    page.locator('li.lm-TabBar-tab[data-id="filebrowser"]').click()
    item = page.locator('.jp-DirListing-item[data-file-type="notebook"]', has_text="plain.ipynb")
    item.click(button="right")
    page.locator('.lm-Menu-item[data-command="jupyter-hybrid:publish-job-file"]').click()
    page.locator(DIALOG).wait_for()
    assert page.locator(f"{DIALOG} .jp-HybridJobs-noCell").inner_text() == NO_CELL
    assert page.locator(f"{DIALOG} [data-field=name] input").input_value() == "plain"
    page.locator(".jp-Dialog-content").screenshot(path=artifacts / "jobs-no-parameters-cell.png")
    page.keyboard.press("Escape")
    page.locator(DIALOG).wait_for(state="detached")


def background(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).backgroundColor")


def test_publish_run_live_log_and_output(lab, page, artifacts):
    base, token = lab
    headers = {"Authorization": f"token {token}"}
    notebook_url = f"{base}/lab/tree/report.ipynb?token={token}"
    colours = {}

    set_theme(base, headers, "light")
    open_lab(page, notebook_url, "light")
    button = page.locator('.jp-NotebookPanel-toolbar [data-command="jupyter-hybrid:publish-job"]')
    assert "Publish as job" in button.inner_text()
    button.click()
    check_dialog(page)
    page.locator(".jp-Dialog-content").screenshot(path=artifacts / "jobs-publish-dialog-light.png")
    colours["dialog-light"] = background(page.locator(".jp-Dialog-content"))
    refused_then_published(page, base, headers, artifacts)
    run = follow_the_run(page)
    page.locator(PANEL).screenshot(path=artifacts / "jobs-panel-light.png")
    colours["panel-light"] = background(page.locator(PANEL))
    open_and_download(page, run, base, headers, artifacts)
    no_parameters_cell(page, artifacts)

    set_theme(base, headers, "dark")
    open_lab(page, notebook_url, "dark")
    # the notebook restored and focused: nothing takes the focus from the palette any more
    page.locator(".jp-NotebookPanel:visible .jp-Notebook-cell").first.wait_for()
    page.locator(".jp-NotebookPanel:visible .jp-Notebook-cell").first.click()
    page.wait_for_timeout(1500)
    palette_run(page, "Publish notebook as job")
    check_dialog(page)
    page.locator(".jp-Dialog-content").screenshot(path=artifacts / "jobs-publish-dialog-dark.png")
    colours["dialog-dark"] = background(page.locator(".jp-Dialog-content"))
    page.keyboard.press("Escape")
    page.locator(DIALOG).wait_for(state="detached")
    palette_run(page, "Open Jobs")
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    panel.locator('.jp-HybridJobs-job[data-job="report"]').click()
    panel.locator(".jp-HybridJobs-run[data-status=completed]").wait_for(timeout=30_000)
    panel.screenshot(path=artifacts / "jobs-panel-dark.png")
    colours["panel-dark"] = background(panel)
    assert colours["dialog-light"] != colours["dialog-dark"], colours
    assert colours["panel-light"] != colours["panel-dark"], colours


def test_output_html_opens_in_a_tab(lab, page):
    """ "HTML" opens the run's output rendered by the server (its own sandboxing headers) in a tab."""
    base, token = lab
    headers = {"Authorization": f"token {token}"}
    job = {"name": "html check", "notebook": "plain.ipynb", "schedule": "once"}
    assert requests.post(f"{base}/jupyter-hybrid/jobs", json=job, headers=headers).status_code == 201
    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    page.locator(".jp-Launcher").wait_for(timeout=LAB_TIMEOUT_MS)  # it takes the focus when it opens
    palette_run(page, "Open Jobs")
    panel = page.locator(PANEL)
    panel.locator('.jp-HybridJobs-job[data-job="html check"]').click()
    panel.locator(".jp-HybridJobs-run[data-status=completed] [data-action=html]").wait_for(
        timeout=RUN_TIMEOUT_MS
    )
    with page.context.expect_page() as tab:
        panel.locator("[data-action=html]").first.click()
    html = tab.value
    html.wait_for_url("**/output?format=html", timeout=30_000)
    html.wait_for_load_state()
    # rendered as a page (text/html), not shown as text: the output's text is there, its markup not
    assert html.evaluate("document.contentType") == "text/html"
    assert "plain" in html.inner_text("body")
    assert "<!DOCTYPE" not in html.inner_text("body")


def wait_runs(base, headers, job, predicate, timeout=60.0):
    """The job's runs (GET jobs/NAME/runs) once ``predicate(runs)`` holds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        runs = requests.get(f"{base}/jupyter-hybrid/jobs/{job}/runs", headers=headers).json()["runs"]
        if predicate(runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.3)


def test_job_actions(lab, tmp_path, page, artifacts):
    """Pause/Resume, Run now with an override, Run again, Cancel, New version, Delete (removing
    the runs), each from the panel, each checked against the server."""
    base, token = lab
    headers = {"Authorization": f"token {token}"}
    job = {"name": "daily", "notebook": "report.ipynb", "schedule": "0 6 * * 1-5", "timezone": "Europe/Paris"}
    assert requests.post(f"{base}/jupyter-hybrid/jobs", json=job, headers=headers).status_code == 201
    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    page.locator(".jp-Launcher").wait_for(timeout=LAB_TIMEOUT_MS)
    palette_run(page, "Open Jobs")
    panel = page.locator(PANEL)
    item = panel.locator('.jp-HybridJobs-job[data-job="daily"]')
    item.wait_for()
    assert "At 06:00, Monday through Friday (Europe/Paris)" in item.inner_text()
    assert "next " in item.locator(".jp-HybridJobs-next").inner_text()
    item.click()
    detail = panel.locator('.jp-HybridJobs-detail[data-job="daily"]')
    detail.wait_for()

    # pause, then resume
    detail.locator("[data-action=pause]").click()
    item.locator(".jp-HybridJobs-paused").wait_for()
    assert requests.get(f"{base}/jupyter-hybrid/jobs/daily", headers=headers).json()["paused"] is True
    detail.locator("[data-action=pause]", has_text="Resume").click()
    item.locator(".jp-HybridJobs-paused").wait_for(state="detached")
    assert requests.get(f"{base}/jupyter-hybrid/jobs/daily", headers=headers).json()["paused"] is False

    # run now with an overridden parameter: the dialog checks types, the run gets the value
    detail.locator("[data-action=run-now]").click()
    dialog = page.locator(".jp-Dialog .jp-HybridJobs-runNow")
    dialog.wait_for()
    dialog.locator('[data-param="count"]').fill("1.5")
    submit(page)
    assert "whole number" in dialog.locator('[data-field="count"] .jp-HybridJobs-fieldError').inner_text()
    dialog.locator('[data-param="count"]').fill("1")
    submit(page)
    dialog.wait_for(state="detached")
    runs = wait_runs(base, headers, "daily", lambda r: r and r[0]["status"] == "completed")
    assert [r["parameters"] for r in runs] == [{"count": 1}], runs
    first = runs[0]["id"]
    panel.locator(f'.jp-HybridJobs-run[data-run="{first}"][data-status=completed]').wait_for(timeout=30_000)

    # run again: the same parameters, a new run
    panel.locator(f'.jp-HybridJobs-run[data-run="{first}"] [data-action=again]').click()

    def both_done(r):
        return len(r) == 2 and all(x["status"] == "completed" for x in r)

    runs = wait_runs(base, headers, "daily", both_done)
    assert both_done(runs) and all(r["parameters"] == {"count": 1} for r in runs), runs

    # cancel a long run
    nb = nbformat.read(tmp_path / "root" / "report.ipynb", as_version=4)
    detail.locator("[data-action=run-now]").click()
    dialog.wait_for()
    dialog.locator('[data-param="count"]').fill("600")  # ten minutes of 0.5 s sleeps
    submit(page)
    dialog.wait_for(state="detached")

    def running_long(r):
        return [x for x in r if x["parameters"] == {"count": 600} and x["status"] == "running"]

    long_run = running_long(wait_runs(base, headers, "daily", running_long))[0]["id"]
    panel.locator(f'.jp-HybridJobs-run[data-run="{long_run}"][data-status=running]').wait_for(timeout=30_000)
    panel.locator(f'.jp-HybridJobs-run[data-run="{long_run}"] [data-action=cancel]').click()
    runs = wait_runs(
        base, headers, "daily", lambda r: any(x["id"] == long_run and x["status"] == "cancelled" for x in r)
    )
    assert {r["id"]: r["status"] for r in runs}[long_run] == "cancelled", runs
    panel.locator(f'.jp-HybridJobs-run[data-run="{long_run}"][data-status=cancelled]').wait_for(
        timeout=30_000
    )
    panel.screenshot(path=artifacts / "jobs-actions.png")

    # publish a new version after editing the notebook
    nb.cells.append(nbformat.v4.new_code_cell("print('version 2')"))
    nbformat.write(nb, tmp_path / "root" / "report.ipynb")
    detail.locator("[data-action=new-version]").click()
    page.locator(".jp-Dialog-footer button.jp-mod-accept").click()
    detail.locator(".jp-HybridJobs-jobMeta", has_text="version 2").wait_for(timeout=10_000)
    versions = requests.get(f"{base}/jupyter-hybrid/jobs/daily", headers=headers).json()["versions"]
    assert [v["number"] for v in versions] == [1, 2]

    # delete, removing the runs
    detail.locator("[data-action=delete]").click()
    page.locator('.jp-Dialog input[value="delete"]').check()
    page.locator(".jp-Dialog-footer button.jp-mod-warn").click()
    item.wait_for(state="detached", timeout=10_000)
    assert requests.get(f"{base}/jupyter-hybrid/jobs", headers=headers).json()["jobs"] == []
    for run_id in (first, long_run):
        assert requests.get(f"{base}/jupyter-hybrid/runs/{run_id}", headers=headers).status_code == 404


def test_publish_in_notebook7(tmp_path, page, artifacts):
    """Notebook 7 (its own shell): the toolbar button publishes, the Jobs panel shows the run."""
    pytest.importorskip("notebook", minversion="7")
    with run_lab(tmp_path, app="notebook") as (base, token):
        write_notebooks(tmp_path / "root")
        page.goto(f"{base}/notebooks/report.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel", timeout=LAB_TIMEOUT_MS)
        page.locator('.jp-NotebookPanel-toolbar [data-command="jupyter-hybrid:publish-job"]').click()
        check_dialog(page)
        submit(page)
        page.locator(DIALOG).wait_for(state="detached", timeout=20_000)
        panel = page.locator(PANEL)
        panel.wait_for(state="visible")
        panel.locator(".jp-HybridJobs-run[data-status=completed]").wait_for(timeout=RUN_TIMEOUT_MS)
        assert "hello 1 0.5" in panel.locator(".jp-HybridJobs-logText").inner_text()
        page.screenshot(path=artifacts / "notebook7-jobs.png")
