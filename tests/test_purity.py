"""Module boundaries: placement is pure when imported, and sites do not import placement back.

Each check runs in a fresh interpreter, so what this test process has already imported cannot
hide a module that the import under test pulls in.
"""

import json
import subprocess
import sys

import pytest

# What a pure import must not load: process/hardware/cluster access and the sites room.
IO_MODULES = ("psutil", "subprocess", "pynvml", "kubernetes_asyncio", "kubespawner", "jupyter_hybrid.sites")


def loaded_after(module: str) -> list[str]:
    """Every module name in sys.modules after ``import <module>`` in a fresh interpreter."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def offenders(names: list[str], roots: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(n == r or n.startswith(r + ".") for r in roots)]


@pytest.mark.parametrize(
    "module", ["jupyter_hybrid.placement", "jupyter_hybrid.catalog", "jupyter_hybrid.sitedata"]
)
def test_pure_rooms_load_no_io(module):
    assert offenders(loaded_after(module), IO_MODULES) == []


def test_sitedata_is_a_leaf():
    names = loaded_after("jupyter_hybrid.sitedata")
    ours = [n for n in names if n.startswith("jupyter_hybrid.") and n != "jupyter_hybrid._version"]
    assert ours == ["jupyter_hybrid.sitedata"]


def test_sites_do_not_import_placement():
    """The cycle sites -> placement.rules -> sites.base is gone: sites read the leaf module."""
    names = loaded_after("jupyter_hybrid.sites")
    assert "jupyter_hybrid.sites.local" in names  # the import really ran
    assert offenders(names, ("jupyter_hybrid.placement",)) == []


def test_the_old_names_still_work():
    from jupyter_hybrid import sitedata
    from jupyter_hybrid.placement import rules
    from jupyter_hybrid.sites import SiteState, base

    assert SiteState is base.SiteState is sitedata.SiteState
    assert base.Allocation is sitedata.Allocation
    assert rules.mig_profile is sitedata.mig_profile
