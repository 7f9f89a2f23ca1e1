"""Nothing from the environment runs inside ngspice: no user init file, no path as a command.

Real ngspice and real libngspice, each run in a fresh Python process (libngspice reads its init
files once, when the library starts). The hostile files would create a marker file through
ngspice's ``shell`` command and print a marker through ``echo``; the tests assert neither happens
and that the currents are the exact product of the linear array.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbarsim.backends.pyspice_backend import safe_tempdir, user_spiceinit
from xbarsim.errors import InputError

G = np.array([[1e-4, 2e-4], [3e-4, 4e-4]])
V = np.array([0.1, 0.2])

SCRIPT = f"""
import numpy as np, sys
from xbarsim.backends import get_backend
from xbarsim.circuit import Crossbar
from xbarsim.errors import XbarsimError
try:
    sol = get_backend(sys.argv[1]).solve(Crossbar(np.array({G.tolist()!r})), np.array({V.tolist()!r}))
except XbarsimError as exc:
    print("ERROR", type(exc).__name__, exc)
else:
    print("CURRENTS", *map(repr, sol.currents.ravel().tolist()))
"""


def _run(backend: str, cwd: Path, env: dict[str, str]) -> str:
    script = cwd / "solve_one.py"
    script.write_text(SCRIPT)
    full = {**os.environ, **env}
    res = subprocess.run(
        [sys.executable, str(script), backend],
        check=False,
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _hostile_init(path: Path, marker: Path) -> None:
    path.write_text(f"echo INIT_FILE_RAN\nshell touch {marker}\n")


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("ngspice", marks=pytest.mark.requires_ngspice),
        pytest.param("pyspice", marks=pytest.mark.requires_pyspice),
    ],
)
def test_no_spiceinit_from_cwd_or_home(tmp_path: Path, backend: str) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    _hostile_init(work / ".spiceinit", tmp_path / "cwd_init_ran")
    _hostile_init(home / ".spiceinit", tmp_path / "home_init_ran")
    out = _run(backend, work, {"HOME": str(home)})
    assert "INIT_FILE_RAN" not in out
    assert not (tmp_path / "cwd_init_ran").exists()
    assert not (tmp_path / "home_init_ran").exists()
    assert out.startswith("CURRENTS"), out
    got = np.array([float(x) for x in out.split()[1:]])
    np.testing.assert_allclose(got, V @ G, rtol=1e-12)


@pytest.mark.requires_pyspice
def test_hostile_tmpdir_never_reaches_a_control_command(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    hostile = tmp_path / f"a;shell touch {marker};b"  # `write <tmp>/...` would run `shell touch`
    hostile.mkdir(parents=True)
    out = _run("pyspice", tmp_path, {"TMPDIR": str(hostile)})
    assert out.startswith("ERROR InputError") and "TMPDIR" in out, out
    assert not marker.exists()


def test_safe_tempdir_refuses_unsafe_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    for bad in ("with space", "semi;colon", 'quote"d', "new\nline"):
        d = tmp_path / bad
        d.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(d))
        with pytest.raises(InputError, match="TMPDIR"):
            safe_tempdir("xbarsim-test-")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = safe_tempdir("xbarsim-test-")
    assert made.is_dir() and made.parent == tmp_path


def test_user_spiceinit_is_found(tmp_path: Path) -> None:
    assert user_spiceinit(str(tmp_path)) is None
    (tmp_path / ".spiceinit").write_text("set x\n")
    assert user_spiceinit(str(tmp_path)) == str(tmp_path / ".spiceinit")
