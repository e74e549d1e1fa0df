"""Attribution rules on their own (pure); tests/test_gpu_endpoints.py runs them on a real kernel."""

from __future__ import annotations

from jupyter_hybrid.gpu.attribution import OTHER, KernelInfo, attribute

TREE = {10: [10, 1], 11: [11, 10, 1], 12: [12, 11, 10, 1], 20: [20, 1], 30: [30, 1]}


def test_descendants_count_as_their_kernel_and_the_rest_is_other():
    kernels = [KernelInfo("a" * 32, 10, "python3", "nb/a.ipynb"), KernelInfo("b" * 32, 20, "python3", None)]
    procs = [
        {"gpu": "0", "pid": 12, "used_memory": 3},
        {"gpu": "0", "pid": 20, "used_memory": None},
        {"gpu": "1", "pid": 30, "used_memory": 5},
        {"gpu": "1", "pid": 99, "used_memory": 1},  # not in this PID namespace
    ]
    rows = attribute(procs, kernels, TREE.get)
    assert [(r["pid"], r["label"]) for r in rows] == [
        (30, OTHER),
        (12, "nb/a.ipynb"),
        (99, OTHER),
        (20, "kernel bbbbbbbb"),  # a kernel without a notebook session: named by its id
    ]
    assert rows[1]["kernel_id"] == "a" * 32 and rows[1]["kind"] == "kernel"
    assert rows[2]["visible"] is False and rows[0]["visible"] is True


def test_no_kernels_means_all_other():
    rows = attribute([{"gpu": "0", "pid": 10, "used_memory": 1}], [], TREE.get)
    assert rows[0]["kind"] == "other" and rows[0]["kernel_id"] is None
