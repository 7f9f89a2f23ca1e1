"""Independent oracles shared by several test modules (imported as ``oracles``; not a test module).

* :func:`reference`: a dense nodal solver of one resistor crossbar written from the topology
  contract alone (every node an unknown, every 0-ohm link a 0 V source), independent of
  :mod:`xbarsim.topology` and of the backends.
* :func:`kcl_residual` / :func:`all_nodes`: Kirchhoff's current law checked at every free node
  from the element list and the device equations of :mod:`xbarsim.spice.models`.
* :func:`assert_cli_errors_before_tensorflow`: bad CLI arguments are one line and exit 2 before
  TensorFlow is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice, requires_pyspice

from xbarsim.circuit import Network
from xbarsim.spice.models import diode_current, nmos_current
from xbarsim.topology import build

SPICE = [
    pytest.param("ngspice", marks=requires_ngspice),
    pytest.param("pyspice", marks=requires_pyspice),
]


def reference(
    G: np.ndarray,
    V: np.ndarray,
    *,
    r_row: float,
    r_col: float,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    r_ref: float | None = None,
) -> np.ndarray:
    """(B, N) outputs of one resistor crossbar: currents into virtual grounds, or r_ref voltages.

    Nodes: in_i, r(i, j), c(i, j), s_j. Source in_i drives r(i, 0) through r_driver; r(i, j) and
    r(i, j+1) are joined by r_row; c(i, j) and c(i+1, j) by r_col; cell G[i, j] joins r(i, j) and
    c(i, j) (nothing when G is 0); c(M-1, j) reaches s_j through r_sense; s_j is held at 0 V by an
    ammeter or goes to ground through r_ref.
    """
    M, N = G.shape
    n_in = M
    idx_r = n_in + np.arange(M * N).reshape(M, N)
    idx_c = n_in + M * N + np.arange(M * N).reshape(M, N)
    idx_s = n_in + 2 * M * N + np.arange(N)
    n = n_in + 2 * M * N + N
    res: list[tuple[int, int, float]] = []  # (a, b, ohm); b = -1 is ground
    for i in range(M):
        res.append((i, int(idx_r[i, 0]), r_driver))
        for j in range(N - 1):
            res.append((int(idx_r[i, j]), int(idx_r[i, j + 1]), r_row))
    for j in range(N):
        for i in range(M - 1):
            res.append((int(idx_c[i, j]), int(idx_c[i + 1, j]), r_col))
        res.append((int(idx_c[M - 1, j]), int(idx_s[j]), r_sense))
        if r_ref is not None:
            res.append((int(idx_s[j]), -1, r_ref))
    conductances = [(int(idx_r[i, j]), int(idx_c[i, j]), float(G[i, j])) for i in range(M) for j in range(N)]
    shorts = [(a, b) for a, b, r in res if r == 0.0]
    conductances += [(a, b, 1.0 / r) for a, b, r in res if r != 0.0]
    # Voltage sources: inputs (value V), shorts (0 V), ammeters (0 V).
    sources = [(i, -1) for i in range(M)] + shorts
    ammeters = [] if r_ref is not None else [(int(idx_s[j]), -1) for j in range(N)]
    sources += ammeters
    size = n + len(sources)
    A = np.zeros((size, size))
    for a, b, g in conductances:
        if g == 0.0:
            continue
        A[a, a] += g
        if b >= 0:
            A[b, b] += g
            A[a, b] -= g
            A[b, a] -= g
    for k, (a, b) in enumerate(sources):
        A[a, n + k] += 1.0
        A[n + k, a] += 1.0
        if b >= 0:
            A[b, n + k] -= 1.0
            A[n + k, b] -= 1.0
    rhs = np.zeros((size, V.shape[0]))
    rhs[n : n + M] = V.T
    x = np.linalg.solve(A, rhs)
    if r_ref is not None:
        return x[idx_s].T
    first = n + len(sources) - len(ammeters)
    return x[first:].T  # branch current from + (the sense node) through the source: into the node


def kcl_residual(circuit, sol, b: int) -> float:
    """Largest KCL imbalance at free nodes / max(largest resistor current, 1 uA), from the element list."""
    topo = build(circuit)
    net = circuit if isinstance(circuit, Network) else Network((circuit,))
    x = np.array([sol.node_voltages[name][b] for name in topo.node_names[1:]])
    x = np.concatenate([[0.0], x])
    inj = np.zeros(topo.n_nodes)
    scale = 0.0
    for g in topo.resistors:
        i = (x[g.n1] - x[g.n2]) / g.value
        np.add.at(inj, g.n1, i)
        np.add.at(inj, g.n2, -i)
        scale = max(scale, float(np.abs(i).max()))
    for g in topo.diodes:
        i = diode_current(x[g.n1] - x[g.n2], net.layers[g.layer].cell.diode)
        np.add.at(inj, g.n1, i)
        np.add.at(inj, g.n2, -i)
    for g in topo.mosfets:
        i_d, i_s = nmos_current(x[g.d], x[g.g], x[g.s], net.layers[g.layer].cell.nmos)
        np.add.at(inj, g.d, i_d)
        np.add.at(inj, g.s, i_s)
    fixed = set(topo.fixed_nodes().tolist()) | {0}
    free = np.array([k for k in range(topo.n_nodes) if k not in fixed])
    # Floor of 1 uA: at points where every current is tiny, abstol-level residuals are converged.
    # And no better than rounding allows: a node voltage known to a few ulp leaves an imbalance of
    # ~16 eps |V| G_max in each of its (up to four) wire and cell branches, so the residual is
    # measured against 1e9 times that too (the 1e-9 test limit is then the rounding floor).
    gmax = max((float(np.max(1.0 / g.value)) for g in topo.resistors), default=0.0)
    noise = 64 * np.finfo(float).eps * float(np.abs(x).max()) * gmax
    return float(np.abs(inj[free]).max() / max(scale, 1e-6, 1e9 * noise))


def all_nodes(circuit) -> tuple[str, ...]:
    return build(circuit).node_names[1:]


def assert_cli_errors_before_tensorflow(cases: list[tuple[list[str], str]], repo: Path) -> None:
    """Each ``(argv, needle)`` is one error line with exit 2, all in one fresh process that never
    imports TensorFlow or Keras (every argument is checked before the heavy import)."""
    code = f"""
import contextlib, io, json, sys
from xbarsim.cli import main
out = []
for argv in {json.dumps([c[0] for c in cases])}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    out.append([rc, err.getvalue()])
print(json.dumps({{"results": out, "tf": "tensorflow" in sys.modules or "keras" in sys.modules}}))
"""
    r = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    for (argv, match), (rc, err) in zip(cases, got["results"], strict=True):
        assert rc == 2 and err.count("\n") == 1 and match in err, (argv, err)
    assert not got["tf"], "TensorFlow was imported although every run stopped at its arguments"
