"""The run process: executes one parameter-injected notebook with papermill.

Started by a site (`sites/localrun.py`) as `python -m jupyter_hybrid.jobs.execute RUN_DIR KERNEL
[START_AT]` (START_AT: epoch seconds the first cell waits for, the kernel already started),
in a session of its own. RUN_DIR holds `input.ipynb` (already injected, stored before execution);
this writes `output.ipynb` as cells finish, `events.jsonl` (the live log) and, last and atomically,
`result.json`. It needs no token and no store: everything it reports goes into RUN_DIR.

The engine is papermill's own nbclient engine with one hook more (cell N of M in the log),
registered through papermill's engine registry.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import papermill
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.exceptions import PapermillExecutionError

from .events import EventWriter, StreamFile, strip_ansi
from .parameters import INJECTED_TAG

ENGINE = "jupyter-hybrid"
INPUT, OUTPUT, EVENTS, RESULT = "input.ipynb", "output.ipynb", "events.jsonl", "result.json"


class _Manager(NotebookExecutionManager):
    writer: EventWriter | None = None
    start_at: float | None = None  # epoch seconds: the kernel is up, the first cell waits for this

    def cell_start(self, cell, cell_index=None, **kwargs):
        if self.start_at is not None:
            # started ahead of its due time so that the kernel's start-up is not part of the lag
            time.sleep(max(0.0, self.start_at - time.time()))
            self.start_at = None
        if self.writer is not None and cell_index is not None:
            self.writer.emit("cell", index=cell_index + 1, cells=len(self.nb.cells))
        return super().cell_start(cell, cell_index, **kwargs)


class HybridEngine(NBClientEngine):
    """nbclient execution, reporting each cell's start as an event."""

    writer: EventWriter | None = None
    start_at: float | None = None

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=False, log_output=False,
                         autosave_cell_every=30, **kwargs):  # fmt: skip
        nb_man = _Manager(nb, output_path=output_path, progress_bar=False, log_output=False,
                          autosave_cell_every=autosave_cell_every)  # fmt: skip
        nb_man.writer, nb_man.start_at = cls.writer, cls.start_at
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=False, **kwargs)
        finally:
            nb_man.notebook_complete()
        return nb_man.nb


def failure(error: BaseException, injected_at: int = -1) -> dict:
    """What a failed run records: the failing cell (1-based, counted in the published notebook,
    without the injected parameters cell at index `injected_at`), ename, evalue, traceback."""
    if isinstance(error, PapermillExecutionError):
        cell = error.cell_index + (0 if 0 <= injected_at < error.cell_index else 1)
        return {
            "cell": cell,
            "exec_count": error.exec_count,
            "ename": error.ename,
            "evalue": strip_ansi(str(error.evalue)),
            "traceback": strip_ansi("\n".join(error.traceback)),
            "message": f"cell {cell} raised {error.ename}: {strip_ansi(str(error.evalue))}",
        }
    return {"ename": type(error).__name__, "evalue": str(error), "traceback": "", "message": str(error)}


def _write_result(run_dir: Path, result: dict) -> None:
    tmp = run_dir / (RESULT + ".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, run_dir / RESULT)


def run(run_dir: Path, kernel: str, start_at: float | None = None) -> int:
    writer = EventWriter(run_dir / EVENTS)
    HybridEngine.writer, HybridEngine.start_at = writer, start_at
    papermill_engines.register(ENGINE, HybridEngine)
    source = papermill.iorw.load_notebook_node(str(run_dir / INPUT))
    writer.emit("start", cells=len(source.cells), kernel=kernel)
    try:
        papermill.execute_notebook(
            str(run_dir / INPUT),
            str(run_dir / OUTPUT),
            kernel_name=kernel,
            engine_name=ENGINE,
            progress_bar=False,
            request_save_on_cell_execute=True,
            cwd=str(run_dir),
            stdout_file=StreamFile(writer, "stdout"),
            stderr_file=StreamFile(writer, "stderr"),
        )
        result = {"status": "completed", "error": None}
    except Exception as e:  # the run's own failure: recorded, never raised past this process
        injected = next(
            (i for i, c in enumerate(source.cells) if INJECTED_TAG in c.metadata.get("tags", [])), -1
        )
        result = {"status": "failed", "error": failure(e, injected)}
    writer.emit("end", status=result["status"])
    writer.close()
    _write_result(run_dir, result)
    return 0 if result["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None))
