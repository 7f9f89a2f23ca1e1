"""xbarsim.mapping.kim (the Kim 2024 schemes) and the analytic circuit models against the native backend."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.backends import get_backend
from xbarsim.circuit import CellModel, DiodeModel
from xbarsim.errors import InputError
from xbarsim.experiments import kim2024 as k
from xbarsim.mapping.kim import KIM_SCHEMES, kim_conductances, map_kim
from xbarsim.solution import relative_error


@pytest.fixture(scope="module")
def quant5():
    return k.train_and_quantize(5, 0)[1]


@pytest.mark.parametrize("scheme", KIM_SCHEMES)
def test_map_kim_network_and_levels(scheme: str) -> None:
    rng = np.random.default_rng(3)
    W1, W2 = np.round(rng.normal(size=(25, 10)), 1), np.round(rng.normal(size=(10, 10)), 1)
    bias = 0.2 if scheme == "differential" else 0.0
    cell = CellModel(kind="diode", diode=DiodeModel(v_threshold=0.6))
    m = map_kim(W1, W2, r_ref=2e3, scheme=scheme, bias_scale=bias, cell=cell, r_wire=1.0, r_driver=2.0)
    G1, G2 = kim_conductances(W1, W2, scheme=scheme, bias_scale=bias)
    l1, l2 = m.network.layers
    np.testing.assert_array_equal(l1.G, G1)
    np.testing.assert_array_equal(l2.G, G2)
    assert (l1.name, l2.name) == ("kim_l1", "kim_l2") and l1.r_ref == 2e3 and l2.r_ref is None
    assert l1.cell == cell and l1.r_driver == 2.0 and l2.r_driver == 2.0
    assert np.all(np.diff(m.level_conductance) > 0)
    for layer, idx in zip(m.network.layers, m.level_index):
        np.testing.assert_array_equal(m.level_conductance[idx], layer.G)
    assert m.level_conductance.min() >= 1e-7 * (1 - 1e-12) and m.level_conductance.max() <= 1e-4 * (1 + 1e-12)
    assert m.scheme == scheme and m.bias_scale == bias


def test_single_scheme_is_one_affine_map() -> None:
    W1 = np.array([[-1.0, 0.0], [1.0, 3.0]])
    W2 = np.array([[0.5, -1.0], [2.0, 1.0]])
    G1, G2 = kim_conductances(W1, W2, scheme="single", g_on=1e-4, g_off=1e-6)
    a = (1e-4 - 1e-6) / 4.0
    np.testing.assert_allclose(G1, 1e-6 + a * (W1 + 1.0), rtol=1e-12)
    np.testing.assert_allclose(G2, 1e-6 + a * (W2 + 1.0), rtol=1e-12)


def test_kim_circuit_is_the_mapping(quant5) -> None:
    kc = k.build_circuit(quant5, 5.0, r_ref=1e3, bias_scale=0.1)
    m = map_kim(*quant5.weights, r_ref=1e3, bias_scale=0.1)
    for a, b in zip(kc.network.layers, m.network.layers):
        np.testing.assert_array_equal(a.G, b.G)
    np.testing.assert_array_equal(kc.level_conductance, m.level_conductance)
    assert kc.mapping == "differential" and kc.v_in == 5.0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"scheme": "offset"}, "mapping must be one of"),
        ({"scheme": "single", "bias_scale": 0.1}, "no bias row"),
        ({"g_on": 1e-7, "g_off": 1e-4}, "g_off < g_on"),
        ({"g_off": -1.0}, "g_off"),
        ({"bias_scale": float("nan")}, "bias scale"),
    ],
)
def test_kim_conductances_rejects(kw: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        kim_conductances(np.ones((4, 2)), np.ones((2, 3)), **kw)


def test_map_kim_rejects_bad_shapes_and_r_ref() -> None:
    with pytest.raises(InputError, match="do not chain"):
        map_kim(np.ones((4, 2)), np.ones((3, 3)), r_ref=1e3)
    with pytest.raises(InputError, match="r_ref"):
        map_kim(np.ones((4, 2)), np.ones((2, 3)), r_ref=0.0)


@pytest.mark.parametrize(
    "v_in, r_ref, bias, tol",
    [(1.0, 3.162e4, 0.0, 3e-8), (5.0, 3162.0, 0.02, 1e-9), (10.0, 1259.0, 0.02, 1e-9)],
)
def test_shockley_model_equals_native_without_wires(
    quant5, v_in: float, r_ref: float, bias: float, tol: float
) -> None:
    """The closed-form Shockley model solves the native backend's equations (gmin = 0, no wires).

    The tolerance is the native Newton's stopping rule: at 1 V layer 2 carries only sub-threshold
    current (~1e-4 of the 5 V outputs), so the relative figure is looser there.
    """
    kc = k.build_circuit(quant5, v_in, r_ref=r_ref, bias_scale=bias)
    V = k.glyph_voltages(5, v_in)
    sol = get_backend("native", gmin=0.0).solve(kc.network, V)
    G1, G2 = (xb.G for xb in kc.network.layers)
    out, vh = k.shockley_outputs(G1, G2, V, r_ref, DiodeModel())
    assert vh.shape == (10, 21)
    assert relative_error(out, sol.currents) <= tol


def test_passive_model_tracks_native(quant5) -> None:
    """The PWL passive model is the Shockley circuit with the knee made sharp.

    At 10 V, where the diode drops are small against the drive, its outputs are within 10 % of
    the native backend (measured 5.6 %) and rank the digits the same way.
    """
    kc = k.build_circuit(quant5, 10.0, r_ref=1259.0, bias_scale=0.02)
    V = k.glyph_voltages(5, 10.0)
    sol = get_backend("native").solve(kc.network, V)
    G1, G2 = (xb.G for xb in kc.network.layers)
    model = k.passive_outputs(G1, G2, V, 1259.0, 0.65)
    assert relative_error(model, sol.currents) < 0.1
    np.testing.assert_array_equal(np.argmax(model, axis=1), np.argmax(sol.currents, axis=1))
