"""`import xbarsim` (and building the CLI parser) must not pull in heavy optional dependencies."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("tensorflow", "keras", "PySpice", "dask", "distributed", "matplotlib", "torch")


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_xbarsim_is_light() -> None:
    loaded = _loaded_after("import xbarsim; xbarsim.Crossbar; xbarsim.solve")
    assert not loaded.intersection(HEAVY), loaded.intersection(HEAVY)


def test_cli_parser_is_light() -> None:
    loaded = _loaded_after("from xbarsim.cli import build_parser; build_parser()")
    assert not loaded.intersection(HEAVY), loaded.intersection(HEAVY)
