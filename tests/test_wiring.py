"""Separate row/column wire resistance and open cells, against an independent nodal reference.

The reference below is written from the topology contract alone (docs/ARCHITECTURE.md, "Crossbar
topology"): a dense modified nodal analysis with one unknown per raw node (no merging) and every
0-ohm connection as a zero-volt source, so it shares no code with ``xbarsim.topology``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import SPICE, reference

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.errors import InputError
from xbarsim.netlist import check_topology, write_netlist
from xbarsim.solution import relative_error
from xbarsim.topology import build

requires_ngspice = pytest.mark.requires_ngspice
requires_pyspice = pytest.mark.requires_pyspice


def _pattern(rng: np.random.Generator, M: int, N: int) -> np.ndarray:
    G = rng.uniform(1e-5, 1e-3, (M, N))
    G[rng.random((M, N)) < 0.25] = 0.0
    G[1, :] = 0.0  # a row without any device
    G[:, 2] = 0.0  # a column without any device
    return G


CASES = [
    {"r_row": 1.0, "r_col": 3.0},
    {"r_row": 0.0, "r_col": 2.0, "r_driver": 5.0},
    {"r_row": 2.5, "r_col": 0.0, "r_sense": 4.0},
    {"r_row": 0.7, "r_col": 1.9, "r_driver": 3.0, "r_sense": 2.0, "r_ref": 50.0},
    {"r_row": 0.0, "r_col": 0.0, "r_ref": 20.0},
]


def _xbar(G: np.ndarray, case: dict) -> Crossbar:
    return Crossbar(G, **case)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["native", *SPICE])
def test_backends_match_the_independent_reference(case: dict, backend: str) -> None:
    rng = np.random.default_rng(7)
    G = _pattern(rng, 5, 4)
    V = rng.uniform(-0.5, 1.0, (4, 5))
    xb = _xbar(G, case)
    want = reference(G, V, **case)
    got = get_backend(backend).solve(xb, V).outputs
    assert relative_error(got, want) <= 1e-9


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 4),
    n=st.integers(1, 4),
    r_row=st.sampled_from([0.0, 1.5]),
    r_col=st.sampled_from([0.0, 2.5]),
    r_driver=st.sampled_from([0.0, 2.0]),
    r_sense=st.sampled_from([0.0, 3.0]),
    ref=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_open_pattern_matches_the_reference_on_native(m, n, r_row, r_col, r_driver, r_sense, ref, seed):
    rng = np.random.default_rng(seed)
    G = rng.uniform(1e-5, 1e-3, (m, n)) * (rng.random((m, n)) < 0.6)  # about 40 % open, any pattern
    case = {
        "r_row": r_row,
        "r_col": r_col,
        "r_driver": r_driver,
        "r_sense": r_sense,
        "r_ref": 30.0 if ref else None,
    }
    xb = Crossbar(G, **case)
    check_topology(build(xb))
    V = rng.uniform(-1, 1, (2, m))
    got = get_backend("native").solve(xb, V).outputs
    want = reference(G, V, **case)
    assert np.max(np.abs(got - want)) <= 1e-9 * max(1e-12, float(np.max(np.abs(want))))


def test_the_reference_is_not_symmetric_in_row_and_column_resistance() -> None:
    """Swapping r_row and r_col changes the outputs: the test above can tell them apart."""
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-4, 1e-3, (4, 4))
    V = rng.uniform(0, 1, (2, 4))
    a = get_backend("native").solve(Crossbar(G, r_row=5.0, r_col=0.5), V).currents
    b = get_backend("native").solve(Crossbar(G, r_row=0.5, r_col=5.0), V).currents
    assert relative_error(a, b) > 1e-3
    np.testing.assert_allclose(a, reference(G, V, r_row=5.0, r_col=0.5), rtol=1e-10)


@pytest.mark.parametrize("kind", ["diode", "1t1r"])
@pytest.mark.parametrize("backend", SPICE)
def test_open_cells_in_nonlinear_arrays_agree_with_native(kind: str, backend: str) -> None:
    rng = np.random.default_rng(11)
    G = _pattern(rng, 4, 4)
    xb = Crossbar(G, cell=CellModel(kind), r_row=1.0, r_col=2.0, r_driver=1.5, r_ref=200.0)
    V = rng.uniform(0.5, 1.5, (3, 4))
    opts = {"reltol": 1e-7}
    got = get_backend(backend, options=opts).solve(xb, V).outputs
    want = get_backend("native", reltol=1e-7).solve(xb, V).outputs
    assert relative_error(got, want) <= 1e-6


def test_open_cells_leave_out_element_inner_node_and_transistor() -> None:
    G = np.array([[1e-4, 0.0], [0.0, 2e-4]])
    for kind in ("resistor", "diode", "1t1r"):
        t = build(Crossbar(G, cell=CellModel(kind), r_wire=1.0))
        assert sum(g.n1.size for g in t.resistors if g.kind == "cell") == 2
        names = t.node_names
        assert not any(n.startswith(("m0_0_1", "m0_1_0")) for n in names)
        if kind == "diode":
            assert [(int(i), int(j)) for g in t.diodes for i, j in zip(g.i, g.j)] == [(0, 0), (1, 1)]
        if kind == "1t1r":
            assert [(int(i), int(j)) for g in t.mosfets for i, j in zip(g.i, g.j)] == [(0, 0), (1, 1)]
        check_topology(t)
    deck = write_netlist(Crossbar(G, cell=CellModel("diode"), r_wire=1.0), [0.9, 0.9])
    assert "Rcell0_0_1" not in deck and "Ddio0_1_0" not in deck and "Ddio0_1_1" in deck


@pytest.mark.parametrize("backend", ["ideal", "native", *SPICE])
@pytest.mark.parametrize("r", [0.0, 1.0])
def test_an_all_open_array_is_legal_and_gives_zero(backend: str, r: float) -> None:
    """Every row hangs on its driver and every column on its sense node: nothing floats."""
    G = np.zeros((3, 2))
    for xb in (
        Crossbar(G, r_wire=r, r_driver=r, r_sense=r),
        Crossbar(G, cell=CellModel("1t1r"), r_wire=r, r_ref=10.0),
        Network((Crossbar(G, r_ref=10.0, r_wire=r), Crossbar(np.full((2, 2), 1e-4), r_wire=r))),
    ):
        check_topology(build(xb))
        sol = get_backend(backend).solve(xb, np.array([[0.3, 0.6, 0.9]]))
        assert np.all(sol.outputs == 0.0)


def test_r_wire_is_the_shorthand_for_both() -> None:
    G = np.full((2, 2), 1e-4)
    xb = Crossbar(G, r_wire=2.0)
    assert (xb.r_row, xb.r_col, xb.r_wire) == (2.0, 2.0, 2.0)
    split = Crossbar(G, r_row=1.0, r_col=3.0)
    assert (split.r_row, split.r_col, split.r_wire) == (1.0, 3.0, None)
    assert Crossbar(G).r_wire == 0.0 and Crossbar(G, r_row=1.0).r_col == 0.0
    assert Crossbar(G, r_wire=2.0, r_row=2.0).r_col == 2.0  # agreeing values are fine
    with pytest.raises(InputError, match="r_row=1.0 contradicts r_wire=2.0"):
        Crossbar(G, r_wire=2.0, r_row=1.0)
    with pytest.raises(InputError, match="r_col must be >= 0"):
        Crossbar(G, r_col=-1.0)
    with pytest.raises(InputError, match="r_row must be finite"):
        Crossbar(G, r_row=float("nan"))
    # replace: r_wire sets both, r_row alone keeps r_col
    assert (split.replace(r_wire=4.0).r_row, split.replace(r_wire=4.0).r_col) == (4.0, 4.0)
    assert (xb.replace(r_row=5.0).r_row, xb.replace(r_row=5.0).r_col, xb.replace(r_row=5.0).r_wire) == (
        5.0,
        2.0,
        None,
    )


def test_deck_header_and_segments_use_row_and_column_values() -> None:
    G = np.full((2, 2), 1e-4)
    deck = write_netlist(Crossbar(G, r_row=1.25, r_col=7.5), [0.1, 0.2])
    assert "r_row=1.25 r_col=7.5" in deck
    assert "Rrw0_0_0 in_0 r0_0_1 1.25" in deck and "Rcw0_0_0 c0_0_0 s0_0 7.5" in deck
    assert "r_wire=1.0 " in write_netlist(Crossbar(G, r_wire=1.0), [0.1, 0.2])


def test_ideal_lists_what_it_ignores() -> None:
    G = np.full((2, 2), 1e-4)
    V = np.array([0.1, 0.2])
    ideal = get_backend("ideal")
    assert ideal.solve(Crossbar(G, r_row=1.0, r_col=2.0), V).ignored == ("r_row", "r_col")
    assert ideal.solve(Crossbar(G, r_row=1.0), V).ignored == ("r_row",)
    assert ideal.solve(Crossbar(G, r_wire=1.0), V).ignored == ("r_wire",)


@pytest.mark.parametrize("bad", [[[1e-4, -1e-9]], [[1e-4, np.nan]], [[np.inf, 1e-4]]])
def test_negative_nan_inf_conductances_stay_errors(bad) -> None:
    with pytest.raises(InputError, match=r"conductance matrix of 'xbar' (must be >= 0|has a non-finite)"):
        Crossbar(np.array(bad))
