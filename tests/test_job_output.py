"""A run's output notebook for download: ipynb that validates, HTML that shows every output but
runs none of the notebook's scripts (sanitized, and sandboxed by its headers: each guard alone is
checked in a real browser), local files never embedded, file names safe for hostile job names."""

from __future__ import annotations

import base64
import re
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from jupyter_hybrid.jobs import output

KERNEL = "python3"
SECRET_PNG = b"\x89PNG\r\n\x1a\n" + b"SECRET-PIXELS-0451" * 20


def _hostile_notebook(tmp_path: Path) -> Path:
    """Outputs as a run leaves them, with a script in every place a notebook can hide one."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"w1": {"model_name": "HTMLModel", "state": {"value": "<img src=x onerror=PWNED_W()>"}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    nb.cells.append(
        new_markdown_cell(
            "# Results\n\n<script>console.log('PWNED-md')</script>\n\n![chart](secret.png)\n\n"
            "[click](javascript:console.log('PWNED-href'))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        )
    )
    cell = new_code_cell("compute()", execution_count=1)
    cell.outputs = [
        new_output("stream", name="stdout", text="hello from the run\n"),
        new_output(
            "display_data",
            data={
                "text/html": "<style>body{background:url(https://evil.example/x)}</style>"
                "<b>bold result</b><script>console.log('PWNED-html')</script>"
                "<img src=x onerror=\"console.log('PWNED-img')\">"
                "<table><tr><th>col</th></tr><tr><td>cell-value-7</td></tr></table>"
                "<iframe src=\"javascript:console.log('PWNED-iframe')\"></iframe>"
                "<a href=\"data:text/html,<script>console.log('PWNED-data')</script>\">d</a>",
                "text/plain": "<HTML>",
            },
        ),
        new_output(
            "display_data", data={"application/javascript": "console.log('PWNED-js')", "text/plain": "<JS>"}
        ),
        new_output(
            "display_data",
            data={
                "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'><script>console.log('PWNED-svg')"
                "</script><circle r='5'/></svg>"
            },  # fmt: skip
        ),
        new_output("execute_result", data={"text/plain": "42"}, execution_count=1),
        new_output(
            "error",
            ename="ValueError",
            evalue="boom-evalue",
            traceback=["\x1b[31mValueError\x1b[0m: boom-evalue"],
        ),
    ]
    nb.cells.append(cell)
    (tmp_path / "secret.png").write_bytes(SECRET_PNG)
    path = tmp_path / "output.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Path:
    """A notebook really run by papermill, displaying HTML with a script and JavaScript."""
    folder = tmp_path_factory.mktemp("executed")
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    params = new_code_cell("greeting = 'hi'")
    params.metadata["tags"] = ["parameters"]
    nb.cells += [
        params,
        new_code_cell("print(greeting, 'from papermill')"),
        new_code_cell(
            "from IPython.display import HTML, Javascript, display\n"
            "display(HTML(\"<i>shown-html</i><script>console.log('PWNED-exec')</script>\"))\n"
            "display(Javascript(\"console.log('PWNED-execjs')\"))\n"
            "6 * 7"
        ),
    ]
    source = folder / "input.ipynb"
    nbformat.write(nb, str(source))
    out = folder / "output.ipynb"
    papermill.execute_notebook(
        str(source), str(out), parameters={"greeting": "hello"}, kernel_name=KERNEL, progress_bar=False
    )
    return out


class _Page(HTMLParser):
    """Every script (its text and src), every attribute and the visible text of an HTML page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.tags: set[str] = set()
        self._in = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag in ("script", "style"):
            self._in = tag
            if tag == "script":
                self.scripts.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in is None:
            self.text.append(data)


def _assert_inert(page: _Page) -> None:
    assert not [s for s in page.scripts if "PWNED" in s]
    assert not [a for a in page.attrs if a[1].startswith("on")]
    assert not [a for a in page.attrs if a[1] in ("href", "src") and "javascript:" in a[2].lower()]
    assert not [a for a in page.attrs if a[1] == "href" and a[2].lower().startswith("data:")]
    assert "iframe" not in page.tags and "svg" not in page.tags
    assert not [s for s in page.scripts if "widget" in s.lower() and "PWNED" in s]


# -- ipynb --------------------------------------------------------------------------------------


def test_ipynb_round_trips_through_nbformat_validate(executed, tmp_path):
    data = output.as_ipynb(executed)
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    nbformat.validate(nb)
    on_disk = nbformat.read(str(executed), as_version=4)
    assert [c.get("outputs") for c in nb.cells] == [c.get("outputs") for c in on_disk.cells]
    assert any("hello from papermill" in o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    hostile = _hostile_notebook(tmp_path)
    nbformat.validate(nbformat.reads(output.as_ipynb(hostile).decode(), as_version=4))


def test_an_unreadable_output_is_downloaded_as_it_is_and_refused_as_html(tmp_path):
    broken = tmp_path / "output.ipynb"
    broken.write_bytes(b'{"cells": [{"cell_type": "code", "sou')  # killed while writing it
    assert output.as_ipynb(broken) == broken.read_bytes()
    with pytest.raises(ValueError, match="download it as ipynb"):
        output.as_html(broken)


# -- HTML ---------------------------------------------------------------------------------------


def test_html_shows_the_outputs_and_runs_none_of_their_scripts(tmp_path):
    html = output.as_html(_hostile_notebook(tmp_path)).decode("utf-8")
    page = _Page(html)
    _assert_inert(page)
    text = " ".join(page.text)
    for shown in ("hello from the run", "bold result", "cell-value-7", "42", "boom-evalue", "Results"):
        assert shown in text, shown
    assert "<h1" in html and "<table" in html and "<th>col</th>" in html  # Markdown and HTML still read
    assert "console.log('PWNED-html')" in text  # escaped: shown as text, never run
    assert "evil.example" not in html  # the <style> block is gone
    assert "\x1b[" not in html
    assert "PWNED_W" not in html  # widget state dropped
    assert "PWNED-js" not in html  # JavaScript outputs dropped
    # the SVG comes as an image, where its script never runs
    assert 'src="data:image/svg+xml;base64,' in html


def test_html_of_a_notebook_run_by_papermill(executed):
    page = _Page(output.as_html(executed, title="nightly").decode("utf-8"))
    _assert_inert(page)
    text = " ".join(page.text)
    assert "hello from papermill" in text and "shown-html" in text and "42" in text
    assert "nightly" in text  # the <title>


def test_html_never_embeds_files_from_the_server_s_disk(tmp_path):
    html = output.as_html(_hostile_notebook(tmp_path)).decode("utf-8")
    assert base64.b64encode(SECRET_PNG).decode()[:40] not in html
    assert "SECRET-PIXELS" not in html


def test_the_headers_sandbox_the_page():
    csp = output.HTML_HEADERS["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["sandbox"] == []  # no allow-scripts, no allow-same-origin
    assert directives["script-src"] == ["'none'"] and directives["default-src"] == ["'none'"]
    assert output.HTML_HEADERS["X-Content-Type-Options"] == "nosniff"


# -- file names ---------------------------------------------------------------------------------

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-run-[A-Za-z0-9._-]+\.(ipynb|html)$")


@pytest.mark.parametrize(
    "name",
    [
        "nightly report",
        "../../etc/passwd",
        "..",
        ".hidden",
        "a\"b'c",
        "x\r\nSet-Cookie: session=1",
        "C:\\Windows\\evil",
        "semi;colon=1",
        "名前のジョブ",
        "",
        None,
        "a" * 500,
        "\x00nul",
    ],
)
@pytest.mark.parametrize("fmt", ["ipynb", "html"])
def test_download_names_are_safe_for_hostile_job_names(name, fmt):
    got = output.download_name(name, 42, fmt)
    assert SAFE.match(got), got
    assert got.endswith(f"-run-42.{fmt}") and len(got) <= 110
    for bad in ("/", "\\", '"', "'", "\r", "\n", " ", ";", "\x00", ".."):
        assert bad not in got


def test_download_names():
    assert output.download_name("nightly report", 12, "html") == "nightly_report-run-12.html"
    assert output.download_name("etl.v2", 7, "ipynb") == "etl.v2-run-7.ipynb"
    assert output.download_name("x", "1/../2", "ipynb") == "x-run-1_.._2.ipynb"
    with pytest.raises(ValueError):
        output.download_name("x", 1, "pdf")


# -- in a real browser --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def jp_asyncio_loop():  # no in-process server here; let Playwright's sync API keep its loop
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@pytest.fixture
def served():
    """A local server answering /NAME with pages[NAME] = (body, headers)."""
    pages: dict[str, tuple[bytes, dict]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body, headers = pages.get(self.path.lstrip("/"), (b"", {}))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", pages
    server.shutdown()
    server.server_close()


@pytest.mark.ui
def test_in_a_browser_no_script_of_the_notebook_runs_with_either_guard_alone(tmp_path, served):
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    from .ui.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (it installs Debian's chromium)")
    nb_path = _hostile_notebook(tmp_path)
    raw, _ = HTMLExporter().from_notebook_node(nbformat.read(str(nb_path), as_version=4))
    base, pages = served
    pages["raw"] = (raw.encode(), {})  # the control: nbconvert's plain export, no headers
    pages["headers-only"] = (raw.encode(), output.HTML_HEADERS)
    pages["sanitized-only"] = (output.as_html(nb_path), {})
    pages["ours"] = (output.as_html(nb_path), output.HTML_HEADERS)

    ran: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for name in pages:
                page = browser.new_page()
                seen = ran.setdefault(name, [])
                page.on("console", lambda msg, seen=seen: seen.append(msg.text))
                page.goto(base + name, wait_until="load")
                page.wait_for_timeout(300)
                assert "bold result" in page.inner_text("body")
                page.close()
        finally:
            browser.close()
    # the control: without either guard, the notebook's scripts do run (so the check can fail)
    assert {"PWNED-html", "PWNED-md"} <= set(ran["raw"]), ran["raw"]
    for name in ("headers-only", "sanitized-only", "ours"):
        assert not [m for m in ran[name] if "PWNED" in m], (name, ran[name])
