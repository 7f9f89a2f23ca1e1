"""Weights -> conductances -> tiled crossbars, and back to weight units (the mapping itself).

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

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from .._validate import check_int, check_real
from ..circuit import CellModel, Crossbar
from ..devices import LevelTable
from ..errors import InputError

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

    @property
    def window(self) -> tuple[int, int] | None:
        """(kh, kw) of a conv layer, ``None`` for a dense one (see :class:`xbarsim.nn.ops.Weighted`)."""
        return (self.kernel[0], self.kernel[1]) if self.kernel is not None else None

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
            A[t.row_start : t.row_stop, t.out_start : t.out_stop] = (
                self.column_outputs(t.crossbar.G) / self.scale
            )
        return A

    def column_outputs(self, I: np.ndarray) -> np.ndarray:
        """Pair differences (or reference-subtracted columns) of one tile's columns (last axis).

        Applied to sensed currents this is the layer's output current per output; applied to a
        tile's G it is the weight the tile encodes, times the scale.
        """
        if self.scheme == "differential":
            return I[..., 0::2] - I[..., 1::2]
        return I[..., :-1] - I[..., -1:]


def _check_tile(tile: int, scheme: str) -> int:
    tile = check_int(tile, "tile size", minimum=2)
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
