"""Native backend without ngspice: exact limits, independent KCL checks, device equations, errors.

Oracles: the ideal product where the circuit has no wire effects (to 1e-12), a direct sparse solve
of the full nodal system (transfer matrix, to 1e-10), and KCL written from the topology's element
list with the model card equations of :mod:`xbarsim.spice.models` (residual <= 1e-9 of the
largest element current, Newton run with reltol = 1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from oracles import all_nodes, kcl_residual
from scipy.sparse.linalg import spsolve

from xbarsim.backends import get_backend, solve
from xbarsim.circuit import CellModel, Crossbar, DiodeModel, Network, NmosModel
from xbarsim.errors import ConvergenceError, InputError
from xbarsim.native.devices import diode_eval, fetlim, limvds, mos1_eval, pnjlim
from xbarsim.native.mna import stamp
from xbarsim.solution import relative_error
from xbarsim.spice.models import VT, diode_current, nmos_current
from xbarsim.topology import build


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- linear circuits
def test_ideal_wires_equal_ideal_product() -> None:
    rng = _rng(1)
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (7, 5)))
    V = rng.uniform(-1, 1, (4, 7))
    a, b = solve(xb, V, "native"), solve(xb, V, "ideal")
    assert relative_error(a.currents, b.currents) <= 1e-12
    assert relative_error(a.power, b.power) <= 1e-12
    assert a.backend == "native" and not a.sensed_by_voltage


def test_transfer_matches_direct_sparse_solve() -> None:
    """Schur-complement transfer vs. spsolve of the full nodal system with sources as unknowns fixed."""
    rng = _rng(2)
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (9, 6)), r_wire=2.0, r_driver=20.0, r_sense=7.0)
    V = rng.uniform(0, 1, (3, 9))
    sol = solve(xb, V, "native", nodes=all_nodes(xb))
    mna = stamp(xb)
    Y = mna.Y.tocsr()
    u, f = mna.unknown, mna.fixed
    for b in range(3):
        xf = mna.fixed_values(V[b : b + 1])[0]
        xu = spsolve(sp.csc_matrix(Y[u][:, u]), -(Y[u][:, f] @ xf))
        x = np.zeros(mna.n_nodes)
        x[u], x[f] = xu, xf
        names = build(xb).node_names
        got = np.array([sol.node_voltages[n][b] for n in names[1:]])
        assert np.max(np.abs(got - x[1:])) <= 1e-10
        inj = Y @ x
        amm = build(xb).sense_nodes[0]
        assert relative_error(sol.currents[b], -inj[amm]) <= 1e-10
        assert abs(sol.power[b] - np.dot(V[b], inj[build(xb).input_nodes])) <= 1e-10 * abs(sol.power[b])


def test_network_layers_and_reference_resistors() -> None:
    rng = _rng(3)
    l1 = Crossbar(G=rng.uniform(1e-5, 1e-4, (6, 4)), r_wire=1.0, r_ref=1e3, name="L1")
    l2 = Crossbar(G=rng.uniform(1e-5, 1e-4, (4, 3)), r_wire=1.0, r_ref=500.0, name="L2")
    net = Network((l1, l2))
    V = rng.uniform(0, 1, (2, 6))
    sol = solve(net, V, "native", nodes=all_nodes(net))
    assert sol.sensed_by_voltage
    assert np.allclose(sol.layer_currents[0], sol.layer_voltages[0] / 1e3, rtol=0, atol=0)
    assert np.allclose(sol.currents, sol.voltages / 500.0)
    assert np.array_equal(sol.outputs, sol.voltages)
    for b in range(2):
        assert kcl_residual(net, sol, b) <= 1e-9


def test_mos_linear_is_series_channel_conductance() -> None:
    rng = _rng(4)
    G = rng.uniform(1e-6, 1e-4, (5, 4))
    cell = CellModel(kind="1t1r", v_gate=2.0)
    xb = Crossbar(G=G, cell=cell)
    g_ch = cell.nmos.beta * (2.0 - cell.nmos.vto)
    V = rng.uniform(0, 1, (3, 5))
    got = get_backend("native", mos="linear").solve(xb, V).currents
    want = V @ (1.0 / (1.0 / G + 1.0 / g_ch))
    # Only the gmin (1e-12 S) drain/source shunts separate the two.
    assert relative_error(got, want) <= 1e-6
    off = get_backend("native", mos="linear").solve(xb.replace(cell=CellModel(kind="1t1r", v_gate=0.2)), V)
    assert np.max(np.abs(off.currents)) <= 1e-11


def test_linearity_and_cache_reuse() -> None:
    rng = _rng(5)
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (6, 6)), r_wire=3.0)
    be = get_backend("native")
    V = rng.uniform(0, 1, (2, 6))
    a = be.solve(xb, V[:1]).currents + be.solve(xb, V[1:]).currents
    b = be.solve(xb, V[:1] + V[1:]).currents
    assert relative_error(a, b) <= 1e-12
    other = Crossbar(G=rng.uniform(1e-6, 1e-4, (6, 6)), r_wire=3.0)
    assert relative_error(be.solve(other, V).currents, get_backend("native").solve(other, V).currents) == 0.0


# ---------------------------------------------------------------- devices (vs. the model card equations)
def test_diode_equations_match_model_card() -> None:
    dm = DiodeModel(is_=2e-14, n=1.3)
    v = np.concatenate([np.linspace(-5, 0.8, 400), [-3 * dm.n * VT, -3 * dm.n * VT - 1e-9]])
    cd, gd = diode_eval(v, np.full(v.size, dm.is_), np.full(v.size, dm.n * VT), 1e-12)
    assert np.allclose(cd, diode_current(v, dm), rtol=1e-13, atol=1e-25)
    h = 1e-7
    fd = (diode_current(v + h, dm) - diode_current(v - h, dm)) / (2 * h)
    assert np.allclose(gd, fd, rtol=1e-5, atol=1e-15)


def test_mos1_equations_match_model_card() -> None:
    nm = NmosModel(lambda_=0.05)
    rng = _rng(6)
    vd, vs = rng.uniform(-1, 2, 500), rng.uniform(-1, 2, 500)
    vg = rng.uniform(0, 3, 500)
    ids, dg, dd = mos1_eval(
        vg - vs, vd - vs, np.full(500, nm.beta), np.full(500, nm.vto), np.full(500, nm.lambda_)
    )
    i_d, _ = nmos_current(vd, vg, vs, nm, gmin=0.0)
    assert np.allclose(ids, i_d, rtol=1e-13, atol=1e-20)
    h = 1e-7
    fd_g = (nmos_current(vd, vg + h, vs, nm, 0.0)[0] - nmos_current(vd, vg - h, vs, nm, 0.0)[0]) / (2 * h)
    fd_d = (nmos_current(vd + h, vg, vs, nm, 0.0)[0] - nmos_current(vd - h, vg, vs, nm, 0.0)[0]) / (2 * h)
    smooth = np.abs(vd - vs) > 1e-3
    assert np.allclose(dg[smooth], fd_g[smooth], rtol=1e-4, atol=1e-9)
    assert np.allclose(dd[smooth], fd_d[smooth], rtol=1e-4, atol=1e-9)


def test_limiting_functions() -> None:
    vt, vcrit = np.array([VT]), np.array([0.6])
    v, lim = pnjlim(np.array([3.0]), np.array([0.5]), vt, vcrit)
    assert lim[0] and 0.5 < v[0] < 0.8
    v, lim = pnjlim(np.array([0.55]), np.array([0.5]), vt, vcrit)
    assert not lim[0] and v[0] == 0.55
    v, lim = pnjlim(np.array([-10.0]), np.array([0.2]), vt, vcrit)
    assert lim[0] and v[0] == pytest.approx(-1.2)
    assert fetlim(np.array([5.0]), np.array([0.0]), np.array([0.5]))[0] == pytest.approx(1.0)
    assert limvds(np.array([10.0]), np.array([1.0]))[0] == 4.0


# ---------------------------------------------------------------- nonlinear circuits
def test_series_folding_matches_plain_spice_newton() -> None:
    """Diode cells folded into series elements give the same point as Newton on every node."""
    from xbarsim.native.newton import NewtonOptions, NewtonSolver

    rng = _rng(11)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (6, 5)), cell=CellModel(kind="diode"), r_wire=2.0, r_driver=5.0)
    mna = stamp(xb)
    opts = NewtonOptions(reltol=1e-8)
    folded, plain = NewtonSolver(mna, opts), NewtonSolver(mna, opts, series=False)
    assert folded.g_series is not None and plain.g_series is None
    for v in rng.uniform(-1, 5, (3, 6)):
        xa = folded.node_voltages(
            folded.mna.fixed_values(v[None])[0], folded.solve(folded.mna.fixed_values(v[None])[0])[0]
        )
        xp = plain.node_voltages(
            plain.mna.fixed_values(v[None])[0], plain.solve(plain.mna.fixed_values(v[None])[0])[0]
        )
        assert np.max(np.abs(xa - xp)) <= 1e-9


@pytest.mark.parametrize("kind", ["diode", "1t1r"])
def test_nonlinear_kcl_residual(kind: str) -> None:
    rng = _rng(7)
    xb = Crossbar(
        G=rng.uniform(1e-5, 1e-3, (5, 4)),
        cell=CellModel(kind=kind, v_gate=1.5),
        r_wire=2.0,
        r_driver=10.0,
        r_sense=3.0,
    )
    V = rng.uniform(-1, 3, (3, 5))
    sol = solve(xb, V, "native", nodes=all_nodes(xb), options={"reltol": 1e-6})
    for b in range(3):
        assert kcl_residual(xb, sol, b) <= 1e-9


def test_diode_network_kcl() -> None:
    rng = _rng(8)
    l1 = Crossbar(
        G=rng.uniform(1e-5, 1e-4, (6, 4)), cell=CellModel(kind="diode"), r_wire=1.0, r_ref=1e3, name="A"
    )
    l2 = Crossbar(G=rng.uniform(1e-5, 1e-4, (4, 3)), cell=CellModel(kind="diode"), r_wire=1.0, name="B")
    net = Network((l1, l2))
    V = rng.choice([0.0, 5.0], (3, 6))
    sol = solve(net, V, "native", nodes=all_nodes(net), options={"reltol": 1e-6})
    for b in range(3):
        assert kcl_residual(net, sol, b) <= 1e-9
    assert np.all(sol.power >= 0)


def test_convergence_error_names_array_and_vector() -> None:
    rng = _rng(9)
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (4, 4)), cell=CellModel(kind="diode"), r_wire=1.0, name="hard")
    V = np.array([[0.0] * 4, [50.0] * 4])
    # 2 Newton iterations reach the all-zero point but not 50 V, even with gmin/source stepping.
    be = get_backend("native", max_iter=2)
    with pytest.raises(ConvergenceError, match=r"'hard'.*input vector 1"):
        be.solve(xb, V)


def test_options_and_nodes_are_validated() -> None:
    with pytest.raises(InputError):
        get_backend("native", mos="bsim")
    with pytest.raises(InputError):
        get_backend("native", reltol=-1)
    with pytest.raises(InputError):
        get_backend("native", max_iter=1)
    xb = Crossbar(G=np.full((2, 2), 1e-4), r_wire=1.0)
    with pytest.raises(InputError, match="no node"):
        solve(xb, np.ones(2), "native", nodes=("r0_9_9",))
    with pytest.raises(InputError, match="merged"):
        solve(xb, np.ones(2), "native", nodes=("r0_0_0",))  # r_driver = 0: merged into in_0


def test_schur_complement_fallback_agrees() -> None:
    from xbarsim.native.linear import _schur_by_solves, schur_complement

    rng = _rng(10)
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (6, 5)), r_wire=1.0, r_driver=3.0)
    mna = stamp(xb)
    boundary = mna.fixed[1:]
    a = schur_complement(mna.Y, mna.unknown, boundary)
    b = _schur_by_solves(mna.Y.tocsr(), mna.unknown, boundary)
    # The diagonal shunt of the trailing-block method costs a few ulps of the wire conductance.
    assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))


def test_tiny_nonzero_resistance_is_rejected() -> None:
    with pytest.raises(InputError, match="use 0 for an ideal connection"):  # now raised by Crossbar
        solve(Crossbar(G=np.full((2, 2), 1e-4), r_wire=1e-15), np.ones(2), "native")


@pytest.mark.parametrize("max_iter,path", [(4, "gmin stepping"), (3, "source stepping")])
def test_stepping_fallbacks_reach_the_same_point(max_iter: int, path: str, caplog) -> None:
    """With too few iterations for plain Newton, gmin / source stepping still find the same point."""
    rng = _rng(9)
    rng.uniform(size=(4, 4))  # skip the draws of the array this case was found with
    xb = Crossbar(G=rng.uniform(1e-5, 1e-3, (4, 4)), cell=CellModel(kind="1t1r"), r_wire=1.0)
    V = np.full((1, 4), 5.0)
    ref = get_backend("native", reltol=1e-6).solve(xb, V)
    with caplog.at_level("INFO", logger="xbarsim.native.newton"):
        got = get_backend("native", reltol=1e-6, max_iter=max_iter).solve(xb, V)
    assert f"; {path}" in caplog.text
    assert relative_error(got.currents, ref.currents) <= 1e-9


def test_dense_problem_too_large_is_one_input_error() -> None:
    """A 1 x 300,000 array has 300,000 sense nodes: its dense transfer data would need ~700 TB."""
    xb = Crossbar(G=np.full((1, 300_000), 1e-4), r_wire=1.0)
    with pytest.raises(InputError, match=r"1x300000 circuit needs more memory"):
        solve(xb, np.ones((1, 1)), "native")


def test_redrawn_array_reuses_the_ordering_and_agrees() -> None:
    """Monte-Carlo re-setup: a second array with the same pattern factors with the stored order."""
    from xbarsim.native import ordering

    rng = _rng(11)
    V = rng.uniform(0, 1, (3, 20))
    ordering.clear()
    first = Crossbar(G=rng.uniform(1e-6, 1e-4, (20, 16)), r_wire=1.0, r_driver=2.0)
    get_backend("native").solve(first, V)
    assert len(ordering._orders) == 1
    trial = first.replace(G=rng.uniform(1e-6, 1e-4, (20, 16)))
    warm = get_backend("native").solve(trial, V)
    assert len(ordering._orders) == 1  # same pattern: nothing new stored
    ordering.clear()
    cold = get_backend("native").solve(trial, V)
    assert relative_error(warm.currents, cold.currents) <= 1e-12
    assert relative_error(warm.power, cold.power) <= 1e-12


def test_lean_mos_current_is_bit_identical_to_the_full_evaluation() -> None:
    """The chord residual uses mos1_current; it must be the very same numbers as mos1_eval's current."""
    from xbarsim.native.devices import mos1_current

    rng = _rng(12)
    vgs, vds = rng.uniform(-2, 4, (2, 20_000))
    beta, vto, lam = np.full(vgs.size, 2e-3), np.full(vgs.size, 0.5), np.full(vgs.size, 0.05)
    assert np.array_equal(mos1_current(vgs, vds, beta, vto, lam), mos1_eval(vgs, vds, beta, vto, lam)[0])
