"""Native backend against real ngspice runs of the same circuits (the issue's agreement goals).

Figure: ``relative_error(native, ngspice) = max|I_native - I_ngspice| / max|I_ngspice|``.
Goals: resistor arrays with wires <= 1e-6; diode and 1T1R arrays and the Kim 2024 two-layer
diode network (25x10 then 10x10, r_ref between the layers, inputs 0/5 V) <= 1e-4.
The ngspice reference runs with ``reltol = 1e-6``: with ngspice's default 1e-3 its own Newton stops
up to ~2e-4 away from the converged point (measured: 1T1R with negative inputs), so the default
would test ngspice's tolerance rather than the native solver (which agrees with the tight run to
~1e-8 on these circuits).
"""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, Crossbar, Network
from xbarsim.solution import relative_error

pytestmark = pytest.mark.requires_ngspice

LINEAR_TOL = 1e-6
NONLINEAR_TOL = 1e-4


@pytest.fixture(scope="module")
def ngspice():
    return get_backend("ngspice", options={"reltol": 1e-6})


def _check(native_sol, ref, tol: float) -> None:
    assert relative_error(native_sol.currents, ref.currents) <= tol
    for a, b in zip(native_sol.layer_voltages, ref.layer_voltages):
        if np.any(b):
            assert relative_error(a, b) <= tol
    assert relative_error(native_sol.power, ref.power) <= tol
    for name, v in ref.node_voltages.items():
        assert relative_error(native_sol.node_voltages[name], v) <= tol


@pytest.mark.parametrize(
    "wires",
    [
        {"r_wire": 1.0},
        {"r_wire": 2.5, "r_driver": 10.0, "r_sense": 5.0},
        {"r_wire": 5.0, "r_ref": 1e3},
    ],
)
def test_resistor_arrays_with_wires(ngspice, wires) -> None:
    rng = np.random.default_rng(11)
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (12, 9)), **wires)
    V = rng.uniform(0, 1, (5, 12))
    nodes = ("c0_4_4", "r0_2_3")
    _check(get_backend("native").solve(xb, V, nodes=nodes), ngspice.solve(xb, V, nodes=nodes), LINEAR_TOL)


def test_resistor_array_large_conductances(ngspice) -> None:
    rng = np.random.default_rng(12)
    xb = Crossbar(G=rng.uniform(1e-4, 1e-2, (16, 16)), r_wire=2.0, r_driver=5.0, r_ref=100.0)
    V = rng.uniform(-1, 1, (4, 16))
    _check(get_backend("native").solve(xb, V), ngspice.solve(xb, V), LINEAR_TOL)


@pytest.mark.parametrize(
    "kw",
    [
        {"r_wire": 1.0},
        {"r_wire": 1.0, "r_driver": 50.0, "r_sense": 10.0},
        {"r_wire": 2.0, "r_ref": 1e3},
    ],
)
def test_diode_arrays(ngspice, kw) -> None:
    rng = np.random.default_rng(13)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (10, 8)), cell=CellModel(kind="diode"), **kw)
    V = rng.uniform(-1, 5, (6, 10))
    _check(
        get_backend("native").solve(xb, V, nodes=("m0_3_3",)),
        ngspice.solve(xb, V, nodes=("m0_3_3",)),
        NONLINEAR_TOL,
    )


@pytest.mark.parametrize(
    "cell,scale,offset",
    [
        (CellModel(kind="1t1r"), 1.0, 0.0),  # transistor in its linear region
        (CellModel(kind="1t1r", v_gate=1.0), 3.0, 0.0),  # saturation
        (CellModel(kind="1t1r", v_gate=1.0), 3.0, -1.5),  # negative inputs: drain and source swap
    ],
)
def test_1t1r_arrays(ngspice, cell, scale, offset) -> None:
    rng = np.random.default_rng(14)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-2, (10, 8)), cell=cell, r_wire=1.0, r_sense=2.0)
    V = rng.uniform(0, 1, (6, 10)) * scale + offset
    _check(get_backend("native").solve(xb, V), ngspice.solve(xb, V), NONLINEAR_TOL)


def test_kim2024_two_layer_diode_network(ngspice) -> None:
    rng = np.random.default_rng(15)
    diode = CellModel(kind="diode")
    net = Network(
        (
            Crossbar(G=rng.uniform(1e-5, 1e-4, (25, 10)), cell=diode, r_wire=1.0, r_ref=1e3, name="L1"),
            Crossbar(G=rng.uniform(1e-5, 1e-4, (10, 10)), cell=diode, r_wire=1.0, name="L2"),
        )
    )
    V = rng.choice([0.0, 5.0], size=(8, 25))
    nat = get_backend("native").solve(net, V)
    ref = ngspice.solve(net, V)
    _check(nat, ref, NONLINEAR_TOL)
    assert relative_error(nat.layer_voltages[0], ref.layer_voltages[0]) <= NONLINEAR_TOL


def test_native_default_tolerance_vs_ngspice_default() -> None:
    """Both at SPICE's default reltol = 1e-3: still inside the nonlinear goal."""
    rng = np.random.default_rng(16)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (8, 8)), cell=CellModel(kind="diode"), r_wire=1.0)
    V = rng.uniform(0, 5, (4, 8))
    assert (
        relative_error(
            get_backend("native").solve(xb, V).currents, get_backend("ngspice").solve(xb, V).currents
        )
        <= NONLINEAR_TOL
    )


@pytest.fixture(scope="module")
def ngspice_tight():
    return get_backend("ngspice", options={"reltol": 1e-7})


@pytest.mark.parametrize("n", [32, 64])
@pytest.mark.parametrize("kind", ["diode", "1t1r"])
def test_arrays_at_tight_tolerance(ngspice_tight, n: int, kind: str) -> None:
    """Issue 12: the chord iteration (default) within 1e-6 of ngspice at reltol 1e-7, 32x32 and 64x64."""
    rng = np.random.default_rng(n + len(kind))
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (n, n)), cell=CellModel(kind=kind), r_wire=1.0)
    V = rng.choice([0.0, 5.0 if kind == "diode" else 0.2], size=(3, n))
    _check(get_backend("native").solve(xb, V), ngspice_tight.solve(xb, V), 1e-6)
