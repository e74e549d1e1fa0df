"""A run's live log: JSON lines written by the run process as it goes, read while it runs.

One event a line: `{"t": time, "kind": "start", "cells": M}`, `{"kind": "cell", "index": N,
"cells": M}` (cell N of M, 1-based), `{"kind": "stream", "name": "stdout"|"stderr", "text": ...}`,
`{"kind": "end", "status": ...}`. A file, not a pipe: it survives the control plane's restart
and can be followed by any number of readers (the panel, `job logs --follow`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import IO, Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class EventWriter:
    """Appends events to the log file, one flushed line each (readers see them at once)."""

    def __init__(self, path: Path):
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def emit(self, kind: str, **fields: Any) -> None:
        self._file.write(json.dumps({"t": round(time.time(), 3), "kind": kind, **fields}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class StreamFile:
    """What papermill writes a cell's stdout/stderr to (its `stdout_file`), as events."""

    def __init__(self, writer: EventWriter, name: str):
        self._writer, self._name = writer, name

    def write(self, text: str) -> int:
        if text:
            self._writer.emit("stream", name=self._name, text=strip_ansi(text))
        return len(text)

    def flush(self) -> None:
        pass


def read_events(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete events from byte `offset` on, and the offset to read from next time (a line
    still being written is left for the next read)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a torn line from a process killed mid-write
    return events, offset + end


def render(event: dict) -> str:
    """One event as a person reads it in a terminal or the panel's log view."""
    kind = event.get("kind")
    if kind == "cell":
        return f"--- cell {event['index']} of {event['cells']} ---\n"
    if kind == "stream":
        return event.get("text", "")
    if kind == "start":
        return f"--- run started: {event.get('cells', '?')} cells, kernel {event.get('kernel', '?')} ---\n"
    if kind == "end":
        return f"--- run {event.get('status', 'ended')} ---\n"
    return ""
