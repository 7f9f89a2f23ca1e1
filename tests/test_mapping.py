"""Mapping: round trips weights -> conductances -> currents -> weight units, tiling, levels, errors.

Oracle: the float product ``x @ W + b``; with ideal cells the mapped pipeline must equal it to
1e-12 relative (only rounding separates them).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ngspice

from xbarsim.backends.base import BackendBase
from xbarsim.circuit import CellModel, Crossbar
from xbarsim.devices import preset
from xbarsim.errors import InputError
from xbarsim.mapping import (
    MappedModel,
    TileSolver,
    augment,
    calibrate_layer,
    input_voltages,
    layer_forward,
    map_matrix,
    map_model,
    model_forward,
    n_tiles_for,
)
from xbarsim.nn.keras_models import Conv, Dense, Flatten, Pool, forward, im2col
from xbarsim.solution import relative_error

TABLE = preset("hfo2-1t1r-8")


def _layer(rng, n_in=300, n_out=70):
    return rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)


def _inputs(rng, B, n_in):
    return (rng.random((B, n_in)) < 0.3) * rng.random((B, n_in)) * 3.0


@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize("tile", [128, 16, 4096])
@pytest.mark.parametrize("cell", ["1t1r", "resistor"])
def test_round_trip_ideal(scheme, tile, cell):
    rng = np.random.default_rng(1)
    W, b = _layer(rng)
    X = _inputs(rng, 40, W.shape[0])
    L = map_matrix(augment(W, b), TABLE, scheme=scheme, tile=tile, cell=CellModel(cell))
    Y = layer_forward(L, X, TileSolver("ideal"))
    assert relative_error(Y, X @ W + b) < 1e-12
    np.testing.assert_allclose(L.weights_from_conductances(), L.A, rtol=0, atol=1e-12 * np.abs(L.A).max())
    for t in L.tiles:
        G = t.crossbar.G
        assert G.shape[0] <= tile and G.shape[1] <= tile
        assert np.array_equal(L.g_levels[t.level_index], G)
        assert G.min() >= TABLE.g_min * (1 - 1e-12) and G.max() <= TABLE.g_max * (1 + 1e-12)
    assert len(L.tiles) == n_tiles_for(W.shape[0], W.shape[1], tile, scheme)
    assert L.n_cells == sum(t.crossbar.G.size for t in L.tiles)


def test_tiled_equals_untiled_and_partial_sums():
    rng = np.random.default_rng(2)
    W, b = _layer(rng, 785, 128)
    X = _inputs(rng, 30, 785)
    solver = TileSolver("ideal")
    big = layer_forward(map_matrix(augment(W, b), TABLE, tile=4096), X, solver)
    tiled = map_matrix(augment(W, b), TABLE, tile=128)
    assert len(tiled.tiles) == 7 * 2  # 786 rows -> 7 row blocks; 256 columns -> 2 column blocks
    assert relative_error(layer_forward(tiled, X, solver), big) < 1e-12


def test_differential_layout_and_scale():
    A = np.array([[1.0, -2.0], [0.0, 0.5], [0.25, 0.0]])  # last row = bias
    L = map_matrix(A, TABLE, tile=4)
    G = L.tiles[0].crossbar.G
    a = (TABLE.g_max - TABLE.g_min) / 2.0
    assert L.scale == pytest.approx(a)
    np.testing.assert_allclose(G[:, 0], TABLE.g_min + a * np.array([1.0, 0.0, 0.25]))
    np.testing.assert_allclose(G[:, 1], TABLE.g_min)
    np.testing.assert_allclose(G[:, 3], TABLE.g_min + a * np.array([2.0, 0.0, 0.0]))
    assert G[0, 3] == pytest.approx(TABLE.g_max)


def test_offset_reference_column():
    A = np.array([[1.0, 3.0], [2.0, 0.5]])  # all positive: weight 0 maps to g_min
    L = map_matrix(A, TABLE, scheme="offset", tile=8)
    G = L.tiles[0].crossbar.G
    np.testing.assert_allclose(G[:, -1], TABLE.g_min)
    assert G.max() == pytest.approx(TABLE.g_max)


def test_input_voltages_binary_is_v_read():
    X = np.array([[0.0, 1.0, 1.0], [0.0, 4.0, 2.0]])
    V, s = input_voltages(X, 0.2)
    np.testing.assert_allclose(V[0], [0.0, 0.2, 0.2, 0.2])  # last entry: bias row
    np.testing.assert_allclose(V[1], [0.0, 0.2, 0.1, 0.05])
    np.testing.assert_allclose(s, [1.0, 4.0])


def test_with_conductances_keeps_levels_and_changes_output():
    rng = np.random.default_rng(3)
    W, b = _layer(rng, 20, 6)
    X = _inputs(rng, 5, 20)
    L = map_matrix(augment(W, b), TABLE, tile=8)
    same = L.with_conductances([g.copy() for g in L.conductances()])
    solver = TileSolver("ideal")
    assert relative_error(layer_forward(same, X, solver), X @ W + b) < 1e-12
    doubled = L.with_conductances([2 * g for g in L.conductances()])
    assert all(np.array_equal(a, c) for a, c in zip(doubled.level_indices(), L.level_indices()))
    assert relative_error(layer_forward(doubled, X, solver), 2 * (X @ W + b)) < 1e-12
    with pytest.raises(InputError, match="conductance arrays"):
        L.with_conductances(L.conductances()[:-1])
    idx = L.nearest_table_levels()
    assert idx.min() == 0 and idx.max() == TABLE.n_levels - 1


def _tiny_cnn(rng):
    return [
        Conv(rng.normal(size=(3, 3, 1, 4)) * 0.5, rng.normal(size=4) * 0.1, "relu", "conv1"),
        Pool(2),
        Flatten(),
        Dense(rng.normal(size=(13 * 13 * 4, 12)) * 0.1, rng.normal(size=12) * 0.1, "relu", "dense1"),
        Dense(rng.normal(size=(12, 10)), rng.normal(size=10) * 0.1, "softmax", "output"),
    ]


def test_mapped_model_equals_numpy_forward():
    rng = np.random.default_rng(4)
    ops = _tiny_cnn(rng)
    x = (rng.random((6, 28, 28)) > 0.7).astype(float)
    mm = map_model(ops, TABLE, tile=32, cell=CellModel("1t1r"))
    assert isinstance(mm, MappedModel) and len(mm.layers) == 3
    ref = forward(ops, x, logits=True)
    errs: list = []
    got = model_forward(mm, x, TileSolver("ideal"), errors=errs)
    assert relative_error(got, ref) < 1e-12
    assert relative_error(model_forward(mm, x), ref) < 1e-12
    assert [e.name for e in errs] == ["conv1", "dense1", "output"]
    assert all(e.max_relative < 1e-12 for e in errs)
    assert errs[0].n_vectors == 6 * 26 * 26
    again = mm.with_layers(list(mm.layers))
    assert relative_error(model_forward(again, x), ref) < 1e-12


def test_im2col_matches_direct_convolution():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 7, 6, 3))
    W = rng.normal(size=(3, 3, 3, 4))
    P = im2col(x, 3, 3)
    got = P @ W.reshape(27, 4)
    ref = np.zeros((2, 5, 4, 4))
    for i in range(5):
        for j in range(4):
            ref[:, i, j, :] = np.einsum("bhwc,hwcf->bf", x[:, i : i + 3, j : j + 3, :], W)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tile": 7}, "even"),
        ({"tile": 1}, ">= 2"),
        ({"scheme": "quad"}, "unknown mapping scheme"),
        ({"tile": 2.5}, "integer"),
    ],
)
def test_mapping_errors(kw, match):
    with pytest.raises(InputError, match=match):
        map_matrix(np.ones((3, 2)), TABLE, **kw)


def test_bad_shapes():
    with pytest.raises(InputError):
        map_matrix(np.ones(3), TABLE)
    with pytest.raises(InputError, match="bias of length"):
        augment(np.ones((3, 2)), np.ones(3))
    L = map_matrix(np.ones((3, 2)), TABLE)
    with pytest.raises(InputError, match="takes"):
        layer_forward(L, np.ones((1, 5)), TileSolver("ideal"))


@requires_ngspice
def test_superposition_shortcut_matches_direct_ngspice():
    """Transfer-matrix shortcut == direct ngspice solves for a linear (resistor, 2 ohm wires) tile."""
    rng = np.random.default_rng(6)
    W, b = _layer(rng, 9, 3)
    L = map_matrix(augment(W, b), TABLE, tile=6, cell=CellModel("resistor"), r_wire=2.0)
    X = _inputs(rng, 4, 9)
    fast = layer_forward(L, X, TileSolver("ngspice", linear=True))
    slow = layer_forward(L, X, TileSolver("ngspice", linear=False))
    assert relative_error(fast, slow) < 1e-6  # ngspice prints ~7 significant digits
    # wires make it differ from the ideal product, but only slightly at these sizes
    assert 0 < relative_error(slow, X @ W + b) < 0.05


def test_superposition_check_rejects_nonlinear():
    class Squarer(BackendBase):  # a deliberately nonlinear "backend" to exercise the check
        name = "square"

        def solve(self, circuit, V, *, nodes=()):
            from xbarsim.backends.ideal import IdealBackend

            sol = IdealBackend().solve(circuit, V)
            return type(sol)(
                sol.currents**2, sol.voltages, sol.layer_currents, sol.layer_voltages, sol.power, "square"
            )

    xb = Crossbar(np.full((3, 2), 1e-4))
    with pytest.raises(InputError, match="not linear"):
        TileSolver(Squarer(), linear=True).currents(xb, np.ones((2, 3)))


class _AttenuatingSolver(TileSolver):
    """The ideal solver with a known, input-independent attenuation of every column (and a
    common-mode leak for the offset case): a circuit whose error per-column gains can undo exactly."""

    def __init__(self, factors: dict[str, np.ndarray]) -> None:
        super().__init__("ideal")
        self.factors = factors

    def currents(self, xb, V):
        return super().currents(xb, V) * self.factors[xb.name]


@pytest.mark.parametrize("scheme", ["differential", "offset"])
def test_data_calibration_recovers_known_column_gains_exactly(scheme):
    """Oracle: if each column's current is its ideal times c_j, data calibration must find 1/c_j
    (or an equivalent fit of the differences) and the layer must compute x @ W + b again."""
    rng = np.random.default_rng(11)
    W, b = _layer(rng, n_in=90, n_out=13)
    layer = map_matrix(augment(W, b), TABLE, scheme=scheme, tile=32)
    factors = {t.crossbar.name: rng.uniform(0.4, 0.9, t.crossbar.G.shape[1]) for t in layer.tiles}
    solver = _AttenuatingSolver(factors)
    X = _inputs(rng, 200, 90)
    raw = layer_forward(layer, X, solver)
    ideal = X @ W + b
    assert relative_error(raw, ideal) > 0.05
    cal = calibrate_layer(layer, solver, "data", _inputs(rng, 60, 90))
    assert relative_error(layer_forward(cal, X, solver), ideal) < 1e-9
    if scheme == "differential":  # each pair's gains are exactly 1 / c (the fit is well posed)
        for t in cal.tiles:
            np.testing.assert_allclose(t.gain, 1 / factors[t.crossbar.name], rtol=1e-9)


def test_pair_calibration_falls_back_to_one_gain_when_columns_are_collinear():
    """A pair whose + and - currents are proportional over the data cannot fix two gains; the
    fit must fall back to one common gain that still scales the difference right."""
    rng = np.random.default_rng(5)
    W = np.zeros((8, 2))
    W[:, 0] = 1.0  # output 0: only + cells programmed; its - column sits at g_min everywhere
    W[:, 1] = rng.normal(size=8)
    layer = map_matrix(augment(W, np.zeros(2)), TABLE, tile=32)
    (t,) = layer.tiles
    solver = _AttenuatingSolver({t.crossbar.name: np.full(t.crossbar.G.shape[1], 0.5)})
    X = np.ones((5, 8))  # every vector the same pattern -> I+ and I- collinear
    cal = calibrate_layer(layer, solver, "data", X)
    np.testing.assert_allclose(cal.tiles[0].gain, 2.0, rtol=1e-9)
    np.testing.assert_allclose(layer_forward(cal, X, solver), X @ W, rtol=1e-9, atol=1e-12)
