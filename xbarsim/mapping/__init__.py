"""Weights -> conductances -> tiled crossbars, and back to weight units.

One weighted layer (dense, or conv through im2col) computes ``y = x @ W + b`` with W (n_in, n_out).
The bias is treated as one more input fixed at 1, so the layer is the augmented matrix
``A = [W; b]`` of shape (n_in + 1, n_out) applied to ``[x, 1]``: the bias becomes an extra crossbar
row driven at the same read voltage as an input of value 1.

Affine map (one scale per layer)
--------------------------------
With the level table's range [g_min, g_max] and ``a`` siemens per weight unit:

* ``differential`` (default): every output uses a column pair (+, -);
  ``G+ = g_min + a * max(A, 0)``, ``G- = g_min + a * max(-A, 0)``, ``a = (g_max - g_min) / max|A|``.
  A zero weight puts both cells at g_min (lowest read current).
* ``offset``: one column per output plus one reference column per tile;
  ``G = g_min + a * (A - lo)``, ``a = (g_max - g_min) / (hi - lo)`` with ``lo = min(A, 0)``,
  ``hi = max(A, 0)``; every reference cell holds ``g_min - a * lo``, the image of weight 0.

Inputs to read voltages: a vector ``[x, 1]`` is applied as ``V = v_read * [x, 1] / s`` with the
per-vector gain ``s = max(1, max|x|)``, so a binary pixel 1 (and the bias row) is exactly v_read on
the first layer and no voltage ever exceeds v_read on later layers.
Scaling back: with ``I+``/``I-`` the sensed currents of a pair (or ``I_j`` and the tile's
reference ``I_ref``), the weight-unit output is ``y = s * (I+ - I-) / (a * v_read)``; partial
outputs of the row tiles of a layer are added digitally. With ideal cells this is exactly
``x @ W + b`` (round trip, tested to 1e-12 relative).

Tiling: a layer's (n_in + 1) rows are cut into blocks of at most T rows; its columns into blocks of
at most T columns, never splitting a differential pair (T // 2 outputs per tile), or T - 1 outputs
plus the reference column for ``offset``.

Levels: quantized weights take few values, so the cells of a layer take few conductances. Each
layer keeps them as ``g_levels`` (ascending) and each tile a ``level_index`` array (same shape as
its G) with ``G == g_levels[level_index]`` exactly; Monte-Carlo code can draw new conductances per
level and rebuild the layer with :meth:`MappedLayer.with_conductances`. The device table fixes
the conductance *range*; the affine images of the weight levels are the programming targets inside
it (they coincide with the table's levels only for evenly spaced weight levels), see
:meth:`MappedLayer.nearest_table_levels`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .._validate import check_real
from ..backends import get_backend
from ..circuit import CellModel, Crossbar
from ..devices import LevelTable
from ..errors import InputError

log = logging.getLogger(__name__)

Scheme = Literal["differential", "offset"]
SCHEMES: tuple[str, ...] = ("differential", "offset")
DEFAULT_TILE = 128


@dataclass(frozen=True, eq=False)
class Tile:
    """One crossbar array of a mapped layer.

    Attributes
    ----------
    crossbar:
        The array (its G is (rows, columns) siemens).
    level_index:
        (rows, columns) int index into the layer's ``g_levels``.
    row_start, row_stop:
        The slice of the augmented input ``[x, 1]`` that drives this tile's rows.
    out_start, out_stop:
        The layer outputs computed by this tile's columns.
    gain:
        ``None``, or (columns,) digital gains applied to each sensed column current before the
        pair difference (set by :func:`calibrate`; 1 = no correction).
    """

    crossbar: Crossbar
    level_index: np.ndarray
    row_start: int
    row_stop: int
    out_start: int
    out_stop: int
    gain: np.ndarray | None = None

    def __post_init__(self) -> None:
        idx = np.asarray(self.level_index, dtype=np.int64)
        if idx.shape != self.crossbar.shape:
            raise InputError(f"level_index shape {idx.shape} differs from tile shape {self.crossbar.shape}")
        idx.setflags(write=False)
        object.__setattr__(self, "level_index", idx)
        if self.gain is not None:
            g = np.array(self.gain, dtype=np.float64).ravel()
            if g.shape != (self.crossbar.n_outputs,) or not np.all(np.isfinite(g)) or np.any(g <= 0):
                raise InputError(f"tile gain must be {self.crossbar.n_outputs} finite positive numbers")
            g.setflags(write=False)
            object.__setattr__(self, "gain", g)

    @property
    def n_cells(self) -> int:
        return int(self.level_index.size)


@dataclass(frozen=True, eq=False)
class MappedLayer:
    """A weighted layer mapped onto tiles.

    Attributes
    ----------
    name:
        Layer name (from the network).
    kind:
        ``"dense"`` or ``"conv"`` (conv layers take im2col patches as input vectors).
    A:
        The augmented weights ``[W; b]`` (n_in + 1, n_out) that the tiles encode.
    tiles:
        The arrays; together they hold every cell of the layer.
    g_levels:
        Ascending distinct nominal conductances used by the layer's cells (siemens).
    scale:
        ``a``: siemens per weight unit.
    v_read:
        Read voltage for an input of 1 (volts).
    scheme:
        ``"differential"`` or ``"offset"``.
    activation:
        Activation applied digitally after the layer (``relu``, ``softmax``, ``linear``).
    kernel:
        (kh, kw, C) for conv layers, else ``None``.
    """

    name: str
    kind: Literal["dense", "conv"]
    A: np.ndarray
    tiles: tuple[Tile, ...]
    g_levels: np.ndarray
    scale: float
    v_read: float
    scheme: Scheme
    activation: str = "relu"
    kernel: tuple[int, int, int] | None = None
    table: LevelTable | None = field(default=None, repr=False)

    @property
    def n_in(self) -> int:
        """Inputs without the bias row."""
        return int(self.A.shape[0]) - 1

    @property
    def n_out(self) -> int:
        return int(self.A.shape[1])

    @property
    def W(self) -> np.ndarray:
        return self.A[:-1]

    @property
    def b(self) -> np.ndarray:
        return self.A[-1]

    @property
    def n_cells(self) -> int:
        return sum(t.n_cells for t in self.tiles)

    def conductances(self) -> list[np.ndarray]:
        """The G array of every tile, in order."""
        return [t.crossbar.G for t in self.tiles]

    def level_indices(self) -> list[np.ndarray]:
        """The level index array of every tile, in order."""
        return [t.level_index for t in self.tiles]

    def with_conductances(self, G: list[np.ndarray]) -> MappedLayer:
        """A copy whose tiles hold the conductances ``G`` (one array per tile, same shapes).

        Level indices, scale and read voltage are kept: the outputs are still scaled back with the
        nominal ``a``, so deviations of G show up as errors in weight units. Column gains from an
        earlier :func:`calibrate` are dropped (calibrate the new arrays again if wanted).
        """
        if len(G) != len(self.tiles):
            raise InputError(f"layer {self.name}: {len(G)} conductance arrays for {len(self.tiles)} tiles")
        tiles = []
        for t, g in zip(self.tiles, G):
            g = np.asarray(g, dtype=np.float64)
            if g.shape != t.crossbar.shape:
                raise InputError(
                    f"layer {self.name}: G of shape {g.shape} for a tile of shape {t.crossbar.shape}"
                )
            tiles.append(replace(t, crossbar=t.crossbar.replace(G=g), gain=None))
        return replace(self, tiles=tuple(tiles))

    def with_circuit(self, **changes: Any) -> MappedLayer:
        """A copy whose crossbars have some fields changed (``cell``, ``r_wire``, ``r_driver``...)."""
        return replace(
            self, tiles=tuple(replace(t, crossbar=t.crossbar.replace(**changes)) for t in self.tiles)
        )

    def nearest_table_levels(self, table: LevelTable | None = None) -> np.ndarray:
        """For each entry of ``g_levels``, the index of the nearest level of the device table."""
        tab = table or self.table
        if tab is None:
            raise InputError(f"layer {self.name} has no level table; pass one")
        return np.abs(self.g_levels[:, None] - tab.g_array[None, :]).argmin(axis=1)

    def weights_from_conductances(self) -> np.ndarray:
        """Invert the affine map: the augmented weights the tiles' conductances encode."""
        A = np.zeros_like(self.A)
        for t in self.tiles:
            G = t.crossbar.G
            if self.scheme == "differential":
                A[t.row_start : t.row_stop, t.out_start : t.out_stop] = (G[:, 0::2] - G[:, 1::2]) / self.scale
            else:
                A[t.row_start : t.row_stop, t.out_start : t.out_stop] = (G[:, :-1] - G[:, -1:]) / self.scale
        return A


def _check_tile(tile: int, scheme: str) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise InputError(f"tile size must be an integer, got {tile!r}")
    tile = int(tile)
    if tile < 2:
        raise InputError(f"tile size must be >= 2 (a column pair or a column plus its reference), got {tile}")
    if scheme == "differential" and tile % 2:
        raise InputError(f"tile size must be even for differential column pairs, got {tile}")
    return tile


def augment(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[W; b]`` with W reshaped to (n_in, n_out) (conv kernels (kh, kw, C, F) -> (kh*kw*C, F))."""
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).ravel()
    W2 = W.reshape(-1, W.shape[-1])
    if b.shape[0] != W2.shape[1]:
        raise InputError(f"bias of length {b.shape[0]} for {W2.shape[1]} outputs")
    if not (np.all(np.isfinite(W2)) and np.all(np.isfinite(b))):
        raise InputError("weights and biases must be finite")
    return np.vstack([W2, b[None, :]])


def map_matrix(
    A: np.ndarray,
    table: LevelTable,
    *,
    name: str = "layer",
    kind: Literal["dense", "conv"] = "dense",
    scheme: Scheme = "differential",
    tile: int = DEFAULT_TILE,
    cell: CellModel | None = None,
    r_wire: float = 0.0,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    activation: str = "relu",
    kernel: tuple[int, int, int] | None = None,
    index: int = 0,
) -> MappedLayer:
    """Map augmented weights ``A = [W; b]`` (n_in + 1, n_out) onto tiles of at most ``tile`` x ``tile``.

    ``index`` numbers the layer in tile names (``L{index}_r{row block}_c{column block}``).
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown mapping scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if not isinstance(table, LevelTable):
        raise InputError(f"table must be a LevelTable, got {type(table).__name__}")
    T = _check_tile(tile, scheme)
    A = np.array(A, dtype=np.float64, copy=True)
    if A.ndim != 2 or A.shape[0] < 2 or A.shape[1] < 1:
        raise InputError(f"augmented weights must be (n_in + 1, n_out) with n_in >= 1, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise InputError(f"layer {name}: weights must be finite")
    cell = cell if cell is not None else CellModel("resistor")
    r_wire = check_real(r_wire, "r_wire", nonneg=True)
    g_min, g_max = table.g_min, table.g_max
    m_aug, n_out = A.shape
    if scheme == "differential":
        span = float(np.max(np.abs(A)))
        a = (g_max - g_min) / span if span > 0 else 1.0
        Gp = g_min + a * np.maximum(A, 0.0)
        Gn = g_min + a * np.maximum(-A, 0.0)
        G_full = np.empty((m_aug, 2 * n_out))
        G_full[:, 0::2], G_full[:, 1::2] = Gp, Gn
        per_tile = T // 2
        g_ref = None
    else:
        lo, hi = min(float(A.min()), 0.0), max(float(A.max()), 0.0)
        a = (g_max - g_min) / (hi - lo) if hi > lo else 1.0
        G_full = g_min + a * (A - lo)
        per_tile = T - 1
        g_ref = g_min - a * lo
    all_g = [G_full.ravel()] + ([np.array([g_ref])] if g_ref is not None else [])
    g_levels, inverse = np.unique(np.concatenate(all_g), return_inverse=True)
    idx_full = inverse[: G_full.size].reshape(G_full.shape)
    ref_idx = int(inverse[-1]) if g_ref is not None else -1
    tiles = []
    for rb, r0 in enumerate(range(0, m_aug, T)):
        r1 = min(r0 + T, m_aug)
        for cb, o0 in enumerate(range(0, n_out, per_tile)):
            o1 = min(o0 + per_tile, n_out)
            if scheme == "differential":
                G = G_full[r0:r1, 2 * o0 : 2 * o1]
                idx = idx_full[r0:r1, 2 * o0 : 2 * o1]
            else:
                G = np.hstack([G_full[r0:r1, o0:o1], np.full((r1 - r0, 1), g_ref)])
                idx = np.hstack([idx_full[r0:r1, o0:o1], np.full((r1 - r0, 1), ref_idx)])
            xb = Crossbar(
                G, cell=cell, r_wire=r_wire, r_driver=r_driver, r_sense=r_sense, name=f"L{index}_r{rb}_c{cb}"
            )
            tiles.append(Tile(xb, idx, r0, r1, o0, o1))
    g_levels.setflags(write=False)
    A.setflags(write=False)
    return MappedLayer(
        name=name,
        kind=kind,
        A=A,
        tiles=tuple(tiles),
        g_levels=g_levels,
        scale=float(a),
        v_read=table.v_read,
        scheme=scheme,
        activation=activation,
        kernel=kernel,
        table=table,
    )


def n_tiles_for(n_in: int, n_out: int, tile: int = DEFAULT_TILE, scheme: Scheme = "differential") -> int:
    """How many arrays a layer with ``n_in`` inputs (+ bias row) and ``n_out`` outputs needs."""
    T = _check_tile(tile, scheme)
    per_tile = T // 2 if scheme == "differential" else T - 1
    return math.ceil((n_in + 1) / T) * math.ceil(n_out / per_tile)


# --------------------------------------------------------------------------- evaluation


def input_voltages(X: np.ndarray, v_read: float) -> tuple[np.ndarray, np.ndarray]:
    """``V = v_read * [X, 1] / s`` and the per-vector gain ``s = max(1, max|x|)`` (see module notes)."""
    X = np.asarray(X, dtype=np.float64)
    s = np.maximum(1.0, np.max(np.abs(X), axis=1)) if X.shape[1] else np.ones(X.shape[0])
    V = np.empty((X.shape[0], X.shape[1] + 1))
    V[:, :-1] = X
    V[:, -1] = 1.0
    V *= (v_read / s)[:, None]
    return V, s


def tile_outputs(layer: MappedLayer, tile: Tile, I: np.ndarray) -> np.ndarray:
    """Differential (or reference-subtracted) currents of one tile, (B, out_stop - out_start) amperes."""
    if layer.scheme == "differential":
        return I[:, 0::2] - I[:, 1::2]
    return I[:, :-1] - I[:, -1:]


class TileSolver:
    """Solves tiles with one backend; for linear circuits through a cached transfer matrix.

    A circuit whose cells and wires are linear obeys superposition: its sensed currents are
    ``V @ T`` with ``T`` the currents for unit inputs. ``linear=None`` (auto) uses that shortcut
    when the cells are resistors or the backend declares its 1T1R transistor model linear
    (native backend with ``mos="linear"``), or for the ideal backend; each transfer matrix is checked
    once against a direct solve of two random vectors. ``linear=False`` always solves directly
    (needed for ngspice's nonlinear transistor), in chunks of ``chunk`` vectors.
    """

    def __init__(
        self,
        backend: str | Any = "ideal",
        *,
        linear: bool | None = None,
        chunk: int = 4096,
        backend_options: dict[str, Any] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.backend = (
            get_backend(backend, **(backend_options or {})) if isinstance(backend, str) else backend
        )
        self.linear = linear
        self.chunk = int(chunk)
        if self.chunk < 1:
            raise InputError(f"chunk must be >= 1, got {chunk}")
        self._T: dict[int, tuple[np.ndarray, Crossbar]] = {}
        self._rng = rng if rng is not None else np.random.default_rng(0)
        self.n_solves = 0

    @property
    def name(self) -> str:
        return str(getattr(self.backend, "name", type(self.backend).__name__))

    def is_linear(self, xb: Crossbar) -> bool:
        if self.linear is not None:
            return bool(self.linear)
        if self.name == "ideal" or xb.cell.kind == "resistor":
            return True
        if xb.cell.kind == "1t1r":
            return getattr(self.backend, "mos", None) == "linear"
        return False

    def _direct(self, xb: Crossbar, V: np.ndarray) -> np.ndarray:
        out = []
        for k in range(0, V.shape[0], self.chunk):
            sol = self.backend.solve(xb, V[k : k + self.chunk])
            self.n_solves += 1
            out.append(np.asarray(sol.currents, dtype=np.float64))
        return np.vstack(out)

    def transfer(self, xb: Crossbar, v_unit: float) -> np.ndarray:
        """(M, N) sensed currents per volt on each row alone (cached per crossbar object)."""
        key = id(xb)
        if key not in self._T:
            m = xb.n_inputs
            T = self._direct(xb, v_unit * np.eye(m)) / v_unit
            Vc = v_unit * self._rng.random((2, m))
            direct = self._direct(xb, Vc)
            scale = max(float(np.max(np.abs(direct))), 1e-300)
            err = float(np.max(np.abs(Vc @ T - direct))) / scale
            if err > 1e-7:
                raise InputError(
                    f"tile {xb.name} is not linear under backend {self.name!r} (superposition error {err:.2e}); "
                    "solve directly (linear=False)"
                )
            self._T[key] = (T, xb)  # keep xb alive so its id stays unique
        return self._T[key][0]

    def currents(self, xb: Crossbar, V: np.ndarray, v_unit: float) -> np.ndarray:
        """Sensed currents (B, N) of tile ``xb`` for input voltages V (B, M)."""
        if self.is_linear(xb):
            return V @ self.transfer(xb, v_unit)
        return self._direct(xb, V)


def layer_forward(layer: MappedLayer, X: np.ndarray, solver: TileSolver) -> np.ndarray:
    """Pre-activation outputs (B, n_out) in weight units of ``layer`` for input vectors X (B, n_in)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != layer.n_in:
        raise InputError(f"layer {layer.name} takes (B, {layer.n_in}) inputs, got {X.shape}")
    V, s = input_voltages(X, layer.v_read)
    Y = np.zeros((X.shape[0], layer.n_out))
    for t in layer.tiles:
        I = solver.currents(t.crossbar, V[:, t.row_start : t.row_stop], layer.v_read)
        if t.gain is not None:
            I = I * t.gain
        Y[:, t.out_start : t.out_stop] += tile_outputs(layer, t, I)
    Y *= (s / (layer.scale * layer.v_read))[:, None]
    return Y


def ideal_forward(layer: MappedLayer, X: np.ndarray) -> np.ndarray:
    """``X @ W + b`` with the layer's (quantized) weights: what the circuit should compute."""
    X = np.asarray(X, dtype=np.float64)
    return X @ layer.A[:-1] + layer.A[-1]


# --------------------------------------------------------------------------- whole networks


@dataclass(frozen=True, eq=False)
class MappedModel:
    """A network whose weighted layers are :class:`MappedLayer` s; pooling/flatten stay digital ops.

    ``ops`` is the network's op list (see :mod:`xbarsim.nn.keras_models`) with every Dense/Conv
    replaced by its mapped layer, in order.
    """

    ops: tuple[Any, ...]

    @property
    def layers(self) -> tuple[MappedLayer, ...]:
        return tuple(op for op in self.ops if isinstance(op, MappedLayer))

    @property
    def n_tiles(self) -> int:
        return sum(len(layer.tiles) for layer in self.layers)

    @property
    def n_cells(self) -> int:
        return sum(layer.n_cells for layer in self.layers)

    def with_layers(self, layers: list[MappedLayer]) -> MappedModel:
        """A copy with the mapped layers replaced in order (e.g. after :meth:`MappedLayer.with_conductances`)."""
        layers = list(layers)
        if len(layers) != len(self.layers):
            raise InputError(f"{len(layers)} layers given for a model with {len(self.layers)}")
        it = iter(layers)
        return MappedModel(tuple(next(it) if isinstance(op, MappedLayer) else op for op in self.ops))


def map_model(ops: list[Any], table: LevelTable, **options: Any) -> MappedModel:
    """Map every Dense/Conv op of ``ops`` with :func:`map_matrix` (same options for all layers)."""
    from ..nn.keras_models import Conv, Dense

    out: list[Any] = []
    k = 0
    for op in ops:
        if isinstance(op, (Dense, Conv)):
            kernel = tuple(int(s) for s in op.W.shape[:3]) if isinstance(op, Conv) else None
            out.append(
                map_matrix(
                    augment(op.W, op.b),
                    table,
                    name=op.name,
                    kind="conv" if kernel else "dense",
                    activation=op.activation,
                    kernel=kernel,
                    index=k,
                    **options,
                )
            )
            k += 1
        else:
            out.append(op)
    return MappedModel(tuple(out))


@dataclass
class LayerError:
    """Running agreement of one layer's circuit outputs with the ideal product of the same inputs."""

    name: str
    max_abs_diff: float = 0.0
    max_abs_ideal: float = 0.0
    sum_sq_diff: float = 0.0
    sum_sq_ideal: float = 0.0
    n_vectors: int = 0

    def add(self, circuit: np.ndarray, ideal: np.ndarray) -> None:
        d = circuit - ideal
        self.max_abs_diff = max(self.max_abs_diff, float(np.max(np.abs(d))) if d.size else 0.0)
        self.max_abs_ideal = max(self.max_abs_ideal, float(np.max(np.abs(ideal))) if ideal.size else 0.0)
        self.sum_sq_diff += float(np.sum(d * d))
        self.sum_sq_ideal += float(np.sum(ideal * ideal))
        self.n_vectors += int(ideal.shape[0])

    @property
    def max_relative(self) -> float:
        """max |circuit - ideal| / max |ideal| over everything seen."""
        return self.max_abs_diff / self.max_abs_ideal if self.max_abs_ideal else self.max_abs_diff

    @property
    def rms_relative(self) -> float:
        """||circuit - ideal|| / ||ideal|| (Frobenius) over everything seen."""
        return (
            math.sqrt(self.sum_sq_diff / self.sum_sq_ideal)
            if self.sum_sq_ideal
            else math.sqrt(self.sum_sq_diff)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.name,
            "max_relative": self.max_relative,
            "rms_relative": self.rms_relative,
            "n_vectors": self.n_vectors,
        }


def model_forward(
    model: MappedModel,
    x: np.ndarray,
    solver: TileSolver | None = None,
    *,
    errors: list[LayerError] | None = None,
) -> np.ndarray:
    """Logits (B, classes) of images x (B, H, W[, C]) through the mapped model.

    ``solver=None`` computes every layer as the ideal product of its (quantized) weights, without
    any circuit. With a solver, each mapped layer goes through its tiles; activations, pooling and
    flattening are digital; the final softmax is skipped (argmax unchanged). When ``errors`` is a
    list (one :class:`LayerError` per mapped layer, or empty to create them), each layer's circuit
    outputs are compared with the ideal product of the same inputs.
    """
    from ..nn.keras_models import Flatten, Pool, activate, im2col, max_pool

    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., None]
    if errors is not None and not errors:
        errors.extend(LayerError(layer.name) for layer in model.layers)
    k = 0
    for j, op in enumerate(model.ops):
        last = j == len(model.ops) - 1
        if isinstance(op, MappedLayer):
            if op.kind == "conv":
                kh, kw, _ = op.kernel  # type: ignore[misc]
                P = im2col(a, kh, kw)
                shape = P.shape[:3]
                X = P.reshape(-1, P.shape[-1])
            else:
                shape = None
                X = a
            ideal = ideal_forward(op, X)
            Z = ideal if solver is None else layer_forward(op, X, solver)
            if errors is not None and solver is not None:
                errors[k].add(Z, ideal)
            if shape is not None:
                Z = Z.reshape(*shape, op.n_out)
            a = Z if last else activate(Z, op.activation)
            k += 1
        elif isinstance(op, Pool):
            a = max_pool(a, op.p)
        elif isinstance(op, Flatten):
            a = a.reshape(a.shape[0], -1)
        else:
            raise InputError(f"unknown op in mapped model: {op!r}")
    return a


Calibration = Literal["none", "uniform", "data"]
CALIBRATIONS: tuple[str, ...] = ("none", "uniform", "data")


def calibrate_layer(
    layer: MappedLayer, solver: TileSolver, how: Calibration = "uniform", X: np.ndarray | None = None
) -> MappedLayer:
    """Per-column digital gains that make each tile's sensed currents match the ideal cell currents.

    Wire resistance and the access transistor lower every column's current by a column-dependent
    factor (IR drop grows along rows and columns). A periphery that stores one gain per ADC column
    can undo most of it:

    * ``"uniform"``: one calibration read per tile with every row at v_read; gain_j = the ideal
      ``v_read * sum_i G_ij`` over the sensed current. Needs no data.
    * ``"data"``: least squares over calibration input vectors ``X`` (B, n_in), e.g. training images
      (never the test set), fitted to what the layer actually uses, the *differences*: for a
      differential pair the two gains (g+, g-) minimise ``sum (D - g+ I+ + g- I-)^2`` with D the
      ideal difference current; for the offset scheme the reference column gets its own
      least-squares gain and every output column the gain that best fits ``I_j - g_ref I_ref``
      to its ideal. Fitting each column's own current instead (what ``"uniform"`` does) spends
      the fit on the common-mode current of the low-conductance cells, which cancels anyway.
    * ``"none"``: remove any gains.
    """
    if how not in CALIBRATIONS:
        raise InputError(f"unknown calibration {how!r}; choose one of {', '.join(CALIBRATIONS)}")
    if how == "none":
        return replace(layer, tiles=tuple(replace(t, gain=None) for t in layer.tiles))
    if how == "data":
        if X is None or np.asarray(X).shape[0] < 1:
            raise InputError("data calibration needs calibration input vectors")
        V, _ = input_voltages(np.asarray(X, dtype=np.float64), layer.v_read)
    tiles = []
    for t in layer.tiles:
        G = t.crossbar.G
        if how == "uniform":
            Vt = np.full((1, G.shape[0]), layer.v_read)
        else:
            Vt = V[:, t.row_start : t.row_stop]
        I_c = solver.currents(t.crossbar, Vt, layer.v_read)
        I_i = Vt @ G
        if how == "uniform":
            gain = _column_gains(I_c, I_i)
        elif layer.scheme == "differential":
            gain = _pair_gains(I_c, I_i)
        else:
            gain = _offset_gains(I_c, I_i)
        tiles.append(replace(t, gain=gain))
    return replace(layer, tiles=tuple(tiles))


def _column_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Least-squares gain of each column's own current (1 where undetermined)."""
    num = np.sum(I_c * I_i, axis=0)
    den = np.sum(I_c * I_c, axis=0)
    return np.where((den > 0) & (num > 0), num / np.where(den > 0, den, 1.0), 1.0)


def _pair_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Gains (g+, g-) per differential pair fitted to the ideal difference current.

    Solves the 2x2 normal equations of ``D ~ g+ I+ - g- I-`` per pair; a pair whose two column
    currents are (numerically) collinear over the data falls back to one common gain, and
    one whose difference carries no signal to gain 1.
    """
    Ip, Im = I_c[:, 0::2], I_c[:, 1::2]
    D = I_i[:, 0::2] - I_i[:, 1::2]
    a11, a22, a12 = np.sum(Ip * Ip, 0), np.sum(Im * Im, 0), -np.sum(Ip * Im, 0)
    b1, b2 = np.sum(Ip * D, 0), -np.sum(Im * D, 0)
    det = a11 * a22 - a12 * a12
    ok = det > 1e-9 * a11 * a22
    safe = np.where(ok, det, 1.0)
    gp = np.where(ok, (b1 * a22 - b2 * a12) / safe, 1.0)
    gm = np.where(ok, (a11 * b2 - a12 * b1) / safe, 1.0)
    delta = Ip - Im
    dd = np.sum(delta * delta, 0)
    common = np.where(dd > 0, np.sum(delta * D, 0) / np.where(dd > 0, dd, 1.0), 1.0)
    common = np.where(common > 0, common, 1.0)
    bad = ~ok | ~(gp > 0) | ~(gm > 0)
    gain = np.empty(I_c.shape[1])
    gain[0::2] = np.where(bad, common, gp)
    gain[1::2] = np.where(bad, common, gm)
    return gain


def _offset_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Reference column: its own least-squares gain; each output: best fit of ``I_j - g_ref I_ref``."""
    g_ref = _column_gains(I_c[:, -1:], I_i[:, -1:])[0]
    target = I_i[:, :-1] - I_i[:, -1:] + g_ref * I_c[:, -1:]  # what g_j I_j must reach
    return np.r_[_column_gains(I_c[:, :-1], target), g_ref]


def calibrate(
    model: MappedModel, solver: TileSolver, how: Calibration = "uniform", x: np.ndarray | None = None
) -> MappedModel:
    """:func:`calibrate_layer` for every mapped layer; ``"data"`` uses images ``x`` (B, H, W[, C]).

    For data calibration each layer's calibration inputs are the activations of the ideal
    (quantized) model on ``x``, so layers are calibrated independently of each other.
    """
    if how != "data":
        return model.with_layers([calibrate_layer(layer, solver, how) for layer in model.layers])
    if x is None:
        raise InputError("data calibration needs calibration images")
    inputs: list[np.ndarray] = []
    _collect_inputs(model, x, inputs)
    return model.with_layers(
        [calibrate_layer(layer, solver, "data", X) for layer, X in zip(model.layers, inputs)]
    )


def _collect_inputs(model: MappedModel, x: np.ndarray, out: list[np.ndarray]) -> None:
    from ..nn.keras_models import Flatten, Pool, activate, im2col, max_pool

    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., None]
    for op in model.ops:
        if isinstance(op, MappedLayer):
            if op.kind == "conv":
                kh, kw, _ = op.kernel  # type: ignore[misc]
                P = im2col(a, kh, kw)
                X = P.reshape(-1, P.shape[-1])
                out.append(X)
                a = activate(ideal_forward(op, X).reshape(*P.shape[:3], op.n_out), op.activation)
            else:
                out.append(a)
                a = activate(ideal_forward(op, a), op.activation)
        elif isinstance(op, Pool):
            a = max_pool(a, op.p)
        elif isinstance(op, Flatten):
            a = a.reshape(a.shape[0], -1)
