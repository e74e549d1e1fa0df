"""A run's output notebook for download: as ipynb, or as HTML that is safe to open from our server.

The output notebook is the run owner's code and whatever it printed, so its HTML is untrusted:
opened from our origin, a `<script>` in an output would run with the viewer's session (a hub
admin looking at another user's run included). Two guards, each enough on its own:

- `as_html` converts with nbconvert's `HTMLExporter(sanitize_html=True)`: HTML and Markdown in
  cells and outputs go through bleach, with an allow-list wider than nbconvert's own (headings,
  paragraphs, tables, images, so that Markdown and DataFrames still read as they should) but no
  script, no event handler, no `javascript:` URL, `data:` only for images, `<style>` blocks
  dropped, CSS properties filtered. JavaScript outputs and widget state are dropped, and local
  images are never embedded (`embed_images=False`: a Markdown `![](../other/secret.png)` must not
  make the server read a file into the page).
- `HTML_HEADERS` is what the handler sends with it: `Content-Security-Policy: sandbox` (an opaque
  origin, no scripts, no forms, no popups) with `script-src 'none'`, no requests but inline styles,
  `data:` and https images; `nosniff`; `no-referrer`.

`download_name` gives a file name safe in a `Content-Disposition` header and on any disk.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

__all__ = ["FORMATS", "HTML_HEADERS", "as_html", "as_ipynb", "download_name"]

FORMATS = ("ipynb", "html")

HTML_HEADERS = {
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; "
        "img-src data: https:; font-src data:; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: output types nbconvert would hand to a script (dropped before the conversion)
_SCRIPTED = (
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)


def _read(path: str | Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(str(path), as_version=4)
    except (ValueError, UnicodeDecodeError) as e:  # nbformat's NotJSONError is a ValueError
        raise ValueError(
            f"the output notebook cannot be read ({type(e).__name__}); the run may have stopped "
            "while writing it: download it as ipynb"
        ) from None


def as_ipynb(path: str | Path) -> bytes:
    """The output notebook as nbformat 4 JSON. One that cannot be read (a run killed while
    papermill was writing it) comes back as it is on disk, so nothing of it is withheld."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except (ValueError, UnicodeDecodeError):
        return Path(path).read_bytes()
    return (nbformat.writes(nb) + "\n").encode("utf-8")


def _without_scripts(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict):
                for mime in _SCRIPTED:
                    data.pop(mime, None)
    return nb


TAGS = frozenset(
    "a abbr acronym b blockquote br caption cite code col colgroup dd del details dfn div dl dt em "
    "figcaption figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small span "
    "strike strong sub summary sup table tbody td tfoot th thead tr tt u ul var".split()
)
_COMMON = ["class", "id", "title", "style", "align", "dir", "lang"]
ATTRIBUTES = {
    "*": _COMMON,
    "a": [*_COMMON, "href", "name"],
    "img": [*_COMMON, "src", "alt", "width", "height"],
    "td": [*_COMMON, "colspan", "rowspan", "valign"],
    "th": [*_COMMON, "colspan", "rowspan", "valign", "scope"],
    "col": [*_COMMON, "span", "width"],
    "table": [*_COMMON, "border", "cellpadding", "cellspacing", "width"],
    "ol": [*_COMMON, "start", "type"],
    "details": [*_COMMON, "open"],
}
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)


def _allowed(tag: str, name: str, value: str) -> bool:
    if name not in ATTRIBUTES.get(tag, ATTRIBUTES["*"]):
        return False
    if name in ("href", "src") and value.strip().lower().startswith("data:"):
        return tag == "img" and value.strip().lower().startswith("data:image/")
    return True


def _cleaner():
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    cleaner = bleach.Cleaner(
        tags=TAGS, attributes=_allowed, protocols=PROTOCOLS, css_sanitizer=CSSSanitizer()
    )

    def clean_html(element) -> str:
        text = element.decode() if isinstance(element, bytes) else str(element)
        # a <style> block would show as text once escaped, and CSS is not for untrusted pages
        return cleaner.clean(_STYLE_BLOCK.sub("", text))

    return clean_html


def as_html(path: str | Path, title: str | None = None) -> bytes:
    """The output notebook as one sanitized HTML page (see the module doc); a ValueError when
    the notebook cannot be read."""
    from nbconvert import HTMLExporter  # slow to import: only when a page is asked for

    nb = _without_scripts(_read(path))
    exporter = HTMLExporter(sanitize_html=True, embed_images=False, filters={"clean_html": _cleaner()})
    resources = {"metadata": {"name": title or Path(path).stem}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body.encode("utf-8")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(job_name: object, run_id: object, fmt: str) -> str:
    """`<job>-run-<id>.<fmt>`: ASCII letters, digits, `.`, `_` and `-` only (no separators,
    quotes, spaces or newlines), at most 100 characters, never starting with a dot."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    stem = _UNSAFE.sub("_", str(job_name or "")).strip("._-")[:80] or "job"
    run = _UNSAFE.sub("_", str(run_id)).strip("._-")[:16] or "unknown"
    return f"{stem}-run-{run}.{fmt}"
