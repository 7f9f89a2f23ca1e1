"""ngspice backend against analytic oracles and an independent hand-written SPICE deck (real ngspice)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import brentq

from xbarsim.backends.ngspice import NgspiceBackend
from xbarsim.circuit import CellModel, Crossbar, DiodeModel, Network, NmosModel
from xbarsim.errors import ConvergenceError, InputError, NgspiceNotFound, SimulationError, SimulationTimeout
from xbarsim.solution import relative_error
from xbarsim.spice.log import failure_error
from xbarsim.spice.models import diode_current, nmos_current
from xbarsim.spice.rawfile import parse_raw
from xbarsim.spice.runner import run_deck

pytestmark = pytest.mark.requires_ngspice
TIGHT = {"reltol": 1e-6}


def _rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# ---------------------------------------------------------------- analytic oracles


def test_single_cell_with_driver_and_sense_resistance() -> None:
    g, rd, rs = 2e-4, 150.0, 75.0
    V = np.array([[0.3], [-0.7], [1.1]])
    sol = NgspiceBackend().solve(Crossbar(np.array([[g]]), r_driver=rd, r_sense=rs), V)
    expected = V / (rd + 1 / g + rs)
    np.testing.assert_allclose(sol.currents, expected, rtol=1e-9, atol=0)
    np.testing.assert_allclose(sol.power, (V * expected)[:, 0], rtol=1e-9, atol=0)
    assert sol.backend == "ngspice" and not sol.sensed_by_voltage
    np.testing.assert_array_equal(sol.voltages, 0.0)


def test_single_cell_reference_resistor_gives_a_voltage() -> None:
    g, rd, rs, rref = 1e-3, 10.0, 5.0, 200.0
    V = np.array([0.5])
    sol = NgspiceBackend().solve(Crossbar(np.array([[g]]), r_driver=rd, r_sense=rs, r_ref=rref), V)
    i = 0.5 / (rd + 1 / g + rs + rref)
    assert sol.sensed_by_voltage
    np.testing.assert_allclose(sol.outputs, [[i * rref]], rtol=1e-9, atol=0)
    np.testing.assert_allclose(sol.currents, [[i]], rtol=1e-9, atol=0)


@pytest.mark.parametrize("batch", [1, 7])
def test_no_wires_equals_matrix_product(batch: int) -> None:
    rng = _rng()
    G = rng.uniform(1e-6, 1e-4, (6, 5))
    V = rng.uniform(-1.0, 1.0, (batch, 6))
    sol = NgspiceBackend().solve(Crossbar(G), V)
    assert relative_error(sol.currents, V @ G) < 1e-9
    assert relative_error(sol.power, (V**2) @ G.sum(axis=1)) < 1e-9
    assert sol.currents.shape == (batch, 5) and len(sol.layer_currents) == 1


def test_two_layer_network_matches_its_closed_form() -> None:
    rng = _rng()
    G1, G2 = rng.uniform(1e-5, 1e-4, (4, 3)), rng.uniform(1e-5, 1e-4, (3, 2))
    rref = 2000.0
    x = rng.uniform(0.0, 1.0, (3, 4))
    net = Network((Crossbar(G1, r_ref=rref), Crossbar(G2)))
    sol = NgspiceBackend().solve(net, x)
    # Sense node j of layer 0: (x @ G1)_j flows in; it leaves through G1 (back), r_ref and layer 1's row j.
    v = (x @ G1) / (G1.sum(axis=0) + 1 / rref + G2.sum(axis=1))
    assert relative_error(sol.layer_voltages[0], v) < 1e-9
    assert relative_error(sol.layer_currents[0], v / rref) < 1e-9
    assert relative_error(sol.currents, v @ G2) < 1e-9
    p = np.sum(x * ((x[:, :, None] - v[:, None, :]) * G1).sum(axis=2), axis=1)
    assert relative_error(sol.power, p) < 1e-9


def _solve_series(f, v: float, r: float, lo: float, hi: float) -> float:
    """Current of a source v -> r -> nonlinear element f(vx) to ground: solve f(vx) = (v - vx) / r."""
    vx = brentq(lambda u: f(u) - (v - u) / r, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
    return (v - vx) / r


def test_single_diode_cell_matches_the_documented_diode_equation() -> None:
    dm = DiodeModel(is_=3e-14, n=1.2)
    g = 1e-3
    V = np.array([[0.2], [0.6], [0.9], [1.5], [-0.8]])
    sol = NgspiceBackend(options=TIGHT).solve(Crossbar(np.array([[g]]), cell=CellModel("diode", diode=dm)), V)
    for k, v in enumerate(V[:, 0]):
        expected = _solve_series(
            lambda u: float(diode_current(u, dm)), v, 1 / g, min(v, 0) - 1, max(v, 0) + 1
        )
        # Reverse bias: ~1e-12 A through gmin; Newton stops within abstol there, so compare absolutely.
        assert sol.currents[k, 0] == pytest.approx(expected, rel=1e-6, abs=1e-14)


def test_single_1t1r_cell_matches_the_documented_mos1_equation() -> None:
    nm = NmosModel(vto=0.45, kp=3e-4, lambda_=0.05)
    g, vg = 2e-4, 1.8
    V = np.array([[0.1], [0.5], [1.0], [2.0]])
    cell = CellModel("1t1r", nmos=nm, v_gate=vg)
    sol = NgspiceBackend(options=TIGHT).solve(Crossbar(np.array([[g]]), cell=cell), V)
    for k, v in enumerate(V[:, 0]):
        expected = _solve_series(lambda u: float(nmos_current(u, vg, 0.0, nm)[0]), v, 1 / g, 0.0, v)
        assert sol.currents[k, 0] == pytest.approx(expected, rel=1e-6)


def test_model_equations_match_ngspice_sweeps() -> None:
    """diode_current / nmos_current (the equations the native solver must use) against ngspice itself."""
    dm, nm = DiodeModel(is_=2e-14, n=1.3), NmosModel(vto=0.45, kp=3e-4, lambda_=0.05)
    from xbarsim.spice.models import diode_card, nmos_card, nmos_geometry

    deck = "\n".join(
        [
            "model probe",
            "Va a 0 0",
            "D1 a 0 dm",
            diode_card(dm, "dm"),
            "Vd d 0 0",
            "Vg g 0 1.2",
            "Vs s 0 0.3",
            f"M1 d g s 0 nm {nmos_geometry(nm)}",
            nmos_card(nm, "nm"),
            ".options reltol=1e-6 gmin=1e-9",
            ".save i(va) i(vd) i(vs) v(a) v(d)",
            ".dc Va -2 0.8 0.05 Vd -1 2 1.5",
            ".end",
            "",
        ]
    )
    raw = parse_raw(run_deck(deck).raw)
    va, vd = raw["v(a)"], raw["v(d)"]
    assert raw.n_points > 150 and set(np.round(vd, 12)) == {-1.0, 0.5, 2.0}
    np.testing.assert_allclose(-raw["i(va)"], diode_current(va, dm, 1e-9), rtol=1e-9, atol=1e-21)
    i_d, i_s = nmos_current(vd, 1.2, 0.3, nm, 1e-9)
    np.testing.assert_allclose(-raw["i(vd)"], i_d, rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(-raw["i(vs)"], i_s, rtol=1e-9, atol=1e-18)


# ---------------------------------------------------------------- independent deck


def _hand_deck(
    G: np.ndarray, v: np.ndarray, r_wire: float, r_drv: float, r_sense: float, r_ref: float | None
) -> str:
    """The crossbar written directly from ARCHITECTURE.md's topology, without xbarsim.netlist."""
    M, N = G.shape
    out = ["independent crossbar deck"]
    for i in range(M):
        out.append(f"VS{i} drive{i} 0 {float(v[i])!r}")
        out.append(f"RD{i} drive{i} row{i}x0 {r_drv!r}")
        for j in range(N):
            out.append(f"RX{i}x{j} row{i}x{j} col{i}x{j} {float(1 / G[i, j])!r}")
            if j + 1 < N:
                out.append(f"RH{i}x{j} row{i}x{j} row{i}x{j + 1} {r_wire!r}")
            if i + 1 < M:
                out.append(f"RV{i}x{j} col{i}x{j} col{i + 1}x{j} {r_wire!r}")
    for j in range(N):
        out.append(f"RS{j} col{M - 1}x{j} out{j} {r_sense!r}")
        out.append(f"RR{j} out{j} 0 {r_ref!r}" if r_ref is not None else f"VA{j} out{j} 0 0")
    return "\n".join([*out, ".options reltol=1e-9", ".op", ".end", ""])


@pytest.mark.parametrize("r_ref", [None, 500.0])
def test_array_with_wires_matches_an_independent_deck(r_ref: float | None) -> None:
    rng = _rng()
    G = rng.uniform(1e-5, 1e-3, (5, 4))
    V = rng.uniform(-0.5, 1.0, (3, 5))
    xb = Crossbar(G, r_wire=2.5, r_driver=7.0, r_sense=4.0, r_ref=r_ref)
    sol = NgspiceBackend().solve(xb, V, nodes=("r0_3_2", "c0_1_1"))
    for k in range(V.shape[0]):
        raw = parse_raw(run_deck(_hand_deck(G, V[k], 2.5, 7.0, 4.0, r_ref)).raw)
        if r_ref is None:
            ref_out = np.array([raw[f"i(va{j})"][0] for j in range(4)])
        else:
            ref_out = np.array([raw[f"v(out{j})"][0] for j in range(4)])
        assert relative_error(sol.outputs[k], ref_out) < 1e-6
        assert sol.node_voltages["r0_3_2"][k] == pytest.approx(raw["v(row3x2)"][0], rel=1e-6)
        assert sol.node_voltages["c0_1_1"][k] == pytest.approx(raw["v(col1x1)"][0], rel=1e-6)
        p = -sum(V[k, i] * raw[f"i(vs{i})"][0] for i in range(5))
        assert sol.power[k] == pytest.approx(p, rel=1e-6)


# ---------------------------------------------------------------- nonlinear arrays: sane results


def test_diode_and_1t1r_arrays_run_and_are_sane() -> None:
    rng = _rng()
    G = rng.uniform(1e-5, 1e-4, (4, 3))
    V = np.array([[0.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3], [1.2, 0.9, 1.5, 1.0]])
    ideal = V @ G
    dio = NgspiceBackend().solve(Crossbar(G, cell=CellModel("diode"), r_wire=1.0), V)
    assert np.all(np.isfinite(dio.currents))
    assert np.all(np.abs(dio.currents[0]) < 1e-12)  # 0 V in, nothing out (gmin leakage only)
    assert np.all(dio.currents[1] < 1e-3 * ideal[1])  # 0.3 V is far below the diode's knee
    assert np.all(dio.currents[2] > 0) and np.all(dio.currents[2] < ideal[2])
    mos = NgspiceBackend().solve(Crossbar(G, cell=CellModel("1t1r", v_gate=3.3), r_wire=1.0), V)
    assert np.all(mos.currents[2] > 0.8 * ideal[2]) and np.all(mos.currents[2] < ideal[2])
    off = NgspiceBackend().solve(Crossbar(G, cell=CellModel("1t1r", v_gate=0.0)), V[2])
    assert np.all(np.abs(off.currents) < 1e-11)  # gate below VTO: only gmin leakage


# ---------------------------------------------------------------- error paths


def test_timeout_is_enforced() -> None:
    rng = _rng()
    xb = Crossbar(rng.uniform(1e-6, 1e-4, (40, 40)), r_wire=1.0)
    with pytest.raises(SimulationTimeout, match="did not finish within"):
        NgspiceBackend(timeout=0.01).solve(xb, rng.uniform(0, 1, (20, 40)))


def test_missing_executable() -> None:
    with pytest.raises(NgspiceNotFound, match="not found"):
        NgspiceBackend(executable="/nonexistent/ngspice").solve(Crossbar(np.full((1, 1), 1e-4)), [1.0])


def test_convergence_failure_quotes_the_log() -> None:
    # I = 1 + V^2 into a 1 GOhm resistor: KCL V/1e9 + 1 + V^2 = 0 has no real solution.
    deck = "no solution\nB1 a 0 I=1+V(a)*V(a)\nR1 a 0 1e9\n.op\n.end\n"
    with pytest.raises(ConvergenceError, match="no convergence") as info:
        run_deck(deck, timeout=60)
    assert "failed" in str(info.value).lower()


def test_bad_deck_is_a_simulation_error_not_convergence() -> None:
    with pytest.raises(SimulationError) as info:
        run_deck("bad\nV1 a 0 1\nX1 a b nosuchsubckt\n.op\n.end\n")
    assert not isinstance(info.value, ConvergenceError)
    assert "nosuchsubckt" in str(info.value).lower()


def test_benign_stderr_is_not_a_failure() -> None:
    # gmin stepping writes notes on stderr, yet the run succeeds.
    deck = "gmin notes\nB1 a 0 I=sqrt(abs(V(a)))+1\nR1 a 0 1e9\n.op\n.end\n"
    out = run_deck(deck)
    assert "gmin" in out.log.lower() and parse_raw(out.raw).n_points == 1


def test_failure_classification_on_canned_logs() -> None:
    conv = failure_error(
        'Note: x\nWarning: source stepping failed\ndoAnalyses: trouble with node "a"\n', "run"
    )
    assert isinstance(conv, ConvergenceError) and "trouble with node" in str(conv)
    other = failure_error("Note: No compatibility mode selected!\nError: unknown subckt: x1\n", "run")
    assert type(other) is SimulationError and "unknown subckt" in str(other)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"options": {"temp": 1.0}},
        {"options": {"reltol": "1\n.control"}},
        {"timeout": 0},
        {"timeout": "1"},
        {"executable": ""},
    ],
)
def test_bad_backend_arguments(kwargs) -> None:
    with pytest.raises(InputError):
        NgspiceBackend(**kwargs)


def test_bad_node_names_and_shapes() -> None:
    be = NgspiceBackend()
    xb = Crossbar(np.full((2, 2), 1e-4))
    with pytest.raises(InputError, match="unknown node"):
        be.solve(xb, [1.0, 2.0], nodes=("in_0\n.control",))
    with pytest.raises(InputError, match="columns"):
        be.solve(xb, [1.0, 2.0, 3.0])


def test_keep_dir_keeps_the_run(tmp_path) -> None:
    NgspiceBackend(keep_dir=tmp_path).solve(Crossbar(np.full((1, 1), 1e-4)), [1.0])
    (run,) = list(tmp_path.iterdir())
    assert {p.name for p in run.iterdir()} >= {"deck.cir", "out.raw", "stdout.txt", "stderr.txt"}


def test_large_batches_are_split_into_runs_and_joined() -> None:
    rng = _rng()
    G = rng.uniform(1e-5, 1e-4, (3, 2))
    net = Network((Crossbar(G, r_ref=100.0, r_wire=1.0), Crossbar(rng.uniform(1e-5, 1e-4, (2, 2)))))
    V = rng.uniform(0, 1, (7, 3))
    whole = NgspiceBackend().solve(net, V, nodes=("r0_1_1",))
    split = NgspiceBackend(max_batch=3).solve(net, V, nodes=("r0_1_1",))  # runs of 3, 3 and 1 vectors
    for a, b in [
        (split.currents, whole.currents),
        (split.power, whole.power),
        (split.layer_voltages[0], whole.layer_voltages[0]),
        (split.node_voltages["r0_1_1"], whole.node_voltages["r0_1_1"]),
    ]:
        assert a.shape == b.shape and relative_error(a, b) < 1e-12
    with pytest.raises(InputError, match="max_batch"):
        NgspiceBackend(max_batch=0)


@pytest.mark.parametrize(
    "name,points", [("resistor_2x2.cir", 1), ("diode_2x2_batch3.cir", 3), ("network_1t1r_resistor.cir", 1)]
)
def test_golden_decks_run_in_ngspice(name: str, points: int) -> None:
    from pathlib import Path

    text = (Path(__file__).parent / "golden" / name).read_text()
    deck = text.split("\n", 1)[1]  # drop the regeneration comment above the title line
    assert parse_raw(run_deck(deck).raw).n_points == points


def test_nan_from_the_simulator_names_the_vector() -> None:
    """A real raw file with one value turned into NaN (fault injection): SimulationError, not a result."""
    import dataclasses

    from xbarsim.backends.ngspice import solution_from_raw
    from xbarsim.circuit import as_network
    from xbarsim.netlist import build_deck

    xb = Crossbar(np.array([[1e-4, 2e-4], [3e-4, 4e-4]]))
    V = np.array([[0.1, 0.2], [0.3, 0.4]])
    deck = build_deck(xb, V)
    out = run_deck(deck.text, timeout=30)
    raw = parse_raw(out.raw)
    good = solution_from_raw(as_network(xb), V, deck, raw, out.log, "ngspice", 0.0)
    np.testing.assert_allclose(good.currents, V @ xb.G, rtol=1e-12)
    name = deck.ammeter_vectors[1]
    data = raw.data.copy()
    data[1, raw.names.index(name)] = np.nan
    bad = dataclasses.replace(raw, data=data, _index={})
    with pytest.raises(SimulationError, match=rf"nan for {re.escape(name)} at input vector 1"):
        solution_from_raw(as_network(xb), V, deck, bad, out.log, "ngspice", 0.0)
