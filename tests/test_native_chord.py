"""Chord iteration (one factorization per circuit) against the full SPICE Newton it replaces.

Oracle: ``NativeBackend(method="newton")``, today's Newton, run with a tight ``reltol = 1e-8`` so
that its own stopping error is far below the 1e-8 goal. Figure: ``relative_error`` of the sensed
currents (max |dI| / max |I|) and of the delivered power.
"""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar
from xbarsim.errors import ConvergenceError, InputError
from xbarsim.solution import relative_error

AGREE = 1e-8


def _pair(xb: Crossbar, V: np.ndarray, **kw):
    chord = get_backend("native", **kw)
    newton = get_backend("native", method="newton", reltol=1e-8, **kw)
    return chord, chord.solve(xb, V), newton.solve(xb, V)


@pytest.mark.parametrize("n", [32, 64])
def test_1t1r_binary_reads_match_newton(n: int) -> None:
    rng = np.random.default_rng(n)
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (n, n)), cell=CellModel(kind="1t1r"), r_wire=1.0)
    V = rng.choice([0.0, 0.2], size=(40, n))
    be, a, b = _pair(xb, V)
    assert relative_error(a.currents, b.currents) <= AGREE
    assert relative_error(a.power, b.power) <= AGREE
    chord = be._cache[id(xb)].chord
    # Nearly linear cells: every vector converged inside the chord iteration, in a few steps each.
    assert chord.vectors == 40 and chord.iterations <= 8 * 40


def test_factorization_is_reused_by_later_batches() -> None:
    rng = np.random.default_rng(1)
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (16, 16)), cell=CellModel(kind="1t1r"), r_wire=1.0)
    be = get_backend("native")
    be.solve(xb, rng.choice([0.0, 0.2], size=(20, 16)))
    chord = be._cache[id(xb)].chord
    lu = chord.blu  # one crossbar: the structured LU (blocktri.py)
    assert lu is not None and chord.lu is None
    be.solve(xb, rng.choice([0.0, 0.2], size=(5, 16)))
    assert be._cache[id(xb)].chord.blu is lu


@pytest.mark.parametrize(
    "cell,scale,offset",
    [
        (CellModel(kind="1t1r", v_gate=1.0), 3.0, 0.0),  # saturation: chord hands vectors to Newton
        (CellModel(kind="1t1r", v_gate=1.0), 3.0, -1.5),  # drain and source swap
        (CellModel(kind="diode"), 5.0, 0.0),
    ],
)
def test_strongly_nonlinear_points_match_newton(cell, scale, offset) -> None:
    rng = np.random.default_rng(7)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (12, 10)), cell=cell, r_wire=1.0, r_sense=2.0)
    V = rng.uniform(0, 1, (30, 12)) * scale + offset
    _, a, b = _pair(xb, V)
    assert relative_error(a.currents, b.currents) <= AGREE
    assert relative_error(a.power, b.power) <= AGREE


def test_diode_binary_array_matches_newton() -> None:
    rng = np.random.default_rng(3)
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (24, 24)), cell=CellModel(kind="diode"), r_wire=1.0)
    V = rng.choice([0.0, 5.0], size=(20, 24))
    _, a, b = _pair(xb, V)
    assert relative_error(a.currents, b.currents) <= AGREE


def test_chord_failure_still_names_array_and_vector() -> None:
    rng = np.random.default_rng(9)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (4, 4)), cell=CellModel(kind="1t1r"), r_wire=1.0, name="hot")
    V = np.array([[0.1] * 4, [0.2] * 4, [80.0] * 4])
    with pytest.raises(ConvergenceError, match=r"'hot'.*input vector 2"):
        get_backend("native", max_iter=3).solve(xb, V)  # enough for the chord at 0.1-0.2 V only


def test_method_is_validated() -> None:
    with pytest.raises(InputError, match="method"):
        get_backend("native", method="gauss-seidel")
