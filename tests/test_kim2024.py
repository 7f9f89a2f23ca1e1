"""Kim 2024 pipeline: mapping oracles, passive model vs a root solve, study, circuit in ngspice."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import KIM_RESULT_KEYS, requires_ngspice

from xbarsim.analysis import current_gap_rate, mean_gap, recognition, recognition_margin
from xbarsim.errors import InputError
from xbarsim.experiments import kim2024 as k
from xbarsim.quant import quantize_weight_range


@pytest.fixture(scope="module")
def quant5():
    """Seed 0, 5x5: the demo's net (q = 7 on this machine's NumPy)."""
    out, quant = k.train_and_quantize(5, 0)
    return out, quant


def test_analysis_helpers() -> None:
    gap = current_gap_rate(np.array([[1.1, 2.0], [0.5, 3.0]]), np.array([[1.0, 0.0], [1.0, 3.0]]))
    np.testing.assert_allclose(gap, [[0.1, np.nan], [0.5, 0.0]], equal_nan=True)
    assert mean_gap(gap) == pytest.approx(0.2)
    assert np.isnan(mean_gap(np.full(3, np.nan)))
    assert recognition(np.eye(3)) == 1.0
    assert recognition(np.zeros((3, 3))) == 0.0  # all-equal rows are not recognized
    assert recognition_margin(np.array([[2.0, 1.0], [0.0, 4.0]])) == pytest.approx(0.25)
    with pytest.raises(InputError):
        current_gap_rate(np.zeros(2), np.zeros(3))


def test_glyph_voltages() -> None:
    V = k.glyph_voltages(7, 5.0)
    assert V.shape == (10, 49) and set(np.unique(V)) == {0.0, 5.0}
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError):
            k.glyph_voltages(5, bad)


def test_differential_mapping_by_hand() -> None:
    W1 = np.array([[1.0, -2.0], [0.0, 4.0]])
    W2 = np.array([[1.0, -1.0], [0.5, 0.0]])
    d = k.CircuitDesign(g_on=1e-4, g_off=1e-7)
    G1, G2 = k.layer_conductances([W1, W2], d, bias_scale=0.5)
    a1 = (1e-4 - 1e-7) / 4.0
    np.testing.assert_allclose(G1[:, 0], 1e-7 + a1 * np.array([1.0, 0.0]))  # "+" column of hidden 0
    np.testing.assert_allclose(G1[:, 1], 1e-7 + a1 * np.array([0.0, 0.0]))  # "-" column of hidden 0
    np.testing.assert_allclose(G1[:, 3], 1e-7 + a1 * np.array([2.0, 0.0]))  # "-" column of hidden 1
    np.testing.assert_allclose(G1[:, 4], 1e-4)  # bias column
    S = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.0], [-0.5, 0.0], [0.75, -0.5]])
    a2 = (1e-4 - 1e-7) / 2.0
    np.testing.assert_allclose(G2, 1e-7 + a2 * (S + 1.0))
    assert G1.min() >= 1e-7 and G2.max() <= 1e-4 * (1 + 1e-12)


def test_layer2_offset_is_common_mode() -> None:
    """Output differences depend only on the weights: the affine offset adds equally to each output."""
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(25, 10)), rng.normal(size=(10, 10))
    _G1, G2 = k.layer_conductances([W1, W2], k.CircuitDesign(), bias_scale=0.2)
    h = rng.uniform(0, 2, size=(4, 21))  # any hidden drives (V_h - V_th)+
    out = h @ G2
    S = np.vstack([np.stack([W2, -W2], axis=1).reshape(20, 10), 0.2 * W2.sum(axis=0)])
    a2 = (G2.max() - G2.min()) / (S.max() - S.min())
    np.testing.assert_allclose(out - out[:, :1], a2 * (h @ S - (h @ S)[:, :1]), rtol=1e-9, atol=1e-18)


def _root(f, lo: float, hi: float) -> float:
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def test_passive_model_against_bisection() -> None:
    """Closed-form hidden voltages equal a bisection solve of each sense node's current balance."""
    rng = np.random.default_rng(4)
    G1 = rng.uniform(1e-6, 1e-4, size=(25, 5))
    G2 = rng.uniform(1e-6, 1e-4, size=(5, 3))
    V = k.glyph_voltages(5, 5.0)
    r_ref, vth = 2e3, 0.65
    out = k.passive_outputs(G1, G2, V, r_ref, vth)
    lit = V > 0
    ref = np.zeros_like(out)
    for b in range(10):
        vh = []
        for j in range(5):
            gs = G1[lit[b], j].sum()
            g2 = G2[j].sum()

            def f(x: float, gs: float = gs, g2: float = g2) -> float:
                return gs * max(5.0 - vth - x, 0.0) - x / r_ref - g2 * max(x - vth, 0.0)

            vh.append(_root(f, 0.0, 5.0))
        ref[b] = np.maximum(np.array(vh) - vth, 0.0) @ G2
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-15)


def test_build_circuit_levels_round_trip(quant5) -> None:
    _, quant = quant5
    kc = k.build_circuit(quant, 5.0, r_ref=1e3, bias_scale=0.1)
    l1, l2 = kc.network.layers
    assert l1.shape == (25, 21) and l2.shape == (21, 10)
    assert l1.r_ref == 1e3 and l2.r_ref is None and l1.cell.kind == "diode"
    for layer, idx in zip(kc.network.layers, kc.level_index):
        np.testing.assert_array_equal(kc.level_conductance[idx], layer.G)
    assert np.all(np.diff(kc.level_conductance) > 0)
    net2 = kc.with_conductances([l.G * 1.01 for l in kc.network.layers])
    np.testing.assert_allclose(net2.layers[0].G, l1.G * 1.01)
    single = k.build_circuit(quant, 5.0, design=k.CircuitDesign(mapping="single"), r_ref=1e3, bias_scale=0.0)
    assert single.network.layers[0].shape == (25, 10) and single.network.layers[1].shape == (10, 10)
    # single mapping: one affine map, so the device levels are exactly the q quantization levels
    assert single.level_conductance.size == quant.n_levels


def test_calibration_reaches_full_recognition_on_passive_model(quant5) -> None:
    _, quant = quant5
    for v in (5.0, 10.0):
        r, b, acc, margin = k.calibrate(quant, v)
        assert acc == 1.0 and margin > 0
        G1, G2 = k.layer_conductances(quant, k.CircuitDesign(), b)
        assert recognition(k.passive_outputs(G1, G2, k.glyph_voltages(5, v), r, 0.65)) == 1.0


def test_train_and_quantize_keys(quant5) -> None:
    out, quant = quant5
    assert out["n_weights"] == 350
    assert out["q_found"] and out["q"] <= 8  # the done criterion: <= 8 levels keep 100 %
    assert out["accuracy_quantized"] == 1.0 and out["accuracy_float"] == 1.0
    assert sum(out["level_counts"]) == 350 and len(out["levels"]) == quant.n_levels
    ref = quantize_weight_range([np.array(w) for w in out["weights"]], out["q"])
    np.testing.assert_array_equal(ref.levels, out["levels"])


def test_seven_by_seven_has_590_weights() -> None:
    out, _ = k.train_and_quantize(7, 1, settings=k.TrainSettings(epochs=200))
    assert out["n_weights"] == 590 and out["grid"] == 7


def test_study_min_q_matches_single_level_search() -> None:
    st = k.run_study(5, n_seeds=2, models_per_seed=3, settings=k.TrainSettings(epochs=80))
    assert st.n_models == 6 and st.track_accuracy.shape == (80, 6)
    np.testing.assert_array_equal(st.seeds, [0, 0, 0, 1, 1, 1])
    again = k.run_study(5, n_seeds=2, models_per_seed=3, settings=k.TrainSettings(epochs=80), chunk=3)
    np.testing.assert_array_equal(st.min_q, again.min_q)  # chunking does not change results
    np.testing.assert_allclose(st.weight_range, again.weight_range, rtol=0, atol=1e-12)
    # oracle: retrain seed 0's models and run the one-model level search
    from xbarsim.datasets.glyphs import glyphs, one_hot
    from xbarsim.nn import numpy_net

    rng = np.random.default_rng(0)
    W1, W2 = numpy_net.init_weights(rng, 3, 25, scale=0.5)
    res = numpy_net.train(glyphs(5), one_hot(), W1, W2, [rng], lr=1.0, epochs=80)
    for p in range(3):
        rec, _ = k.find_levels(res.model(p), alpha=st.alpha, max_q=st.max_q)
        assert (rec.q if rec.found else -1) == st.min_q[p]
    groups = st.seed_groups(5)
    assert len(groups) == 2 and groups[0][2] <= groups[1][2]
    assert set(st.summary()) >= {"n_models", "q_found", "seconds"}


@requires_ngspice
def test_circuit_recognizes_all_digits_in_ngspice() -> None:
    """Done criterion: the SPICE circuit of the demo net recognizes all ten digits at 5 V and 10 V."""
    res = k.run_kim2024(5, 0, voltages=(5.0, 10.0), backend="ngspice")
    assert set(res) >= KIM_RESULT_KEYS | {"per_voltage"}
    assert list(res["per_voltage"]) == ["5", "10"]
    for pv in res["per_voltage"].values():
        assert pv["spice_accuracy"] == 1.0
        gap = np.array(pv["current_gap"], dtype=float)
        assert gap.shape == (10, 10)
        # the passive model (same node equations, ideal diode law) tracks ngspice within 30 %
        assert pv["mean_current_gap_passive"] < 0.3
    # the ideal calculation ignores loading: the gap falls as the input voltage rises
    assert res["per_voltage"]["10"]["mean_current_gap"] < res["per_voltage"]["5"]["mean_current_gap"]


def test_circuit_recognizes_all_digits_native() -> None:
    """The same done criterion on the native nodal solver (no simulator needed)."""
    res = k.run_kim2024(5, 0, voltages=(5.0, 10.0), backend="native")
    assert res["backend"] == "native"
    for pv in res["per_voltage"].values():
        assert pv["spice_accuracy"] == 1.0
        assert pv["mean_current_gap_passive"] < 0.3


@requires_ngspice
def test_shockley_model_matches_ngspice() -> None:
    """The closed-form Shockley node model is an independent oracle for ngspice (no wires)."""
    from xbarsim.backends import get_backend

    rng = np.random.default_rng(7)
    W1, W2 = rng.normal(size=(25, 10)), rng.normal(size=(10, 10))
    d = k.CircuitDesign()
    G1, G2 = k.layer_conductances([W1, W2], d, bias_scale=0.1)
    for v in (1.0, 5.0):
        V = k.glyph_voltages(5, v)
        from xbarsim.circuit import CellModel, Crossbar, Network

        cell = CellModel(kind="diode", diode=d.diode)
        net = Network((Crossbar(G1, cell, r_ref=2e3, name="a"), Crossbar(G2, cell, name="b")))
        sol = get_backend("ngspice").solve(net, V)
        model, vh = k.shockley_outputs(G1, G2, V, 2e3, d.diode)
        assert vh.shape == (10, 21)
        np.testing.assert_allclose(model, sol.currents, rtol=1e-3, atol=1e-3 * np.abs(sol.currents).max())
