"""Evaluating mapped layers and models: read voltages, tile currents through a backend, scaling back.

See :mod:`xbarsim.mapping.layers` for the affine map and the read-voltage convention and
:mod:`xbarsim.mapping.converters` for the DACs and ADCs a model may carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import check_int
from ..backends import Backend, get_backend
from ..circuit import Crossbar
from ..devices import LevelTable
from ..errors import InputError
from ..nn.ops import Conv, Dense, forward
from .converters import LayerConverters
from .layers import MappedLayer, Tile, augment, map_matrix

#: Circuits a :class:`TileSolver`'s backend keeps cached at least (see there).
TILE_CACHE = 1024


def input_voltages(X: np.ndarray, v_read: float) -> tuple[np.ndarray, np.ndarray]:
    """``V = v_read * [X, 1] / s`` and the per-vector gain ``s = max(1, max|x|)`` (see :mod:`.layers`)."""
    X = np.asarray(X, dtype=np.float64)
    s = np.maximum(1.0, np.max(np.abs(X), axis=1)) if X.shape[1] else np.ones(X.shape[0])
    V = np.empty((X.shape[0], X.shape[1] + 1))
    V[:, :-1] = X
    V[:, -1] = 1.0
    V *= (v_read / s)[:, None]
    return V, s


def tile_outputs(layer: MappedLayer, tile: Tile, I: np.ndarray) -> np.ndarray:
    """Differential (or reference-subtracted) currents of one tile, (B, out_stop - out_start) amperes."""
    return layer.column_outputs(I)


class TileSolver:
    """Solves tiles with one backend, through the backend's transfer matrix when the tile is linear.

    A circuit whose cells and wires are linear obeys superposition: its sensed currents are
    ``V @ T``. The backend decides whether a tile is linear (``backend.is_linear``) and owns
    the cached ``T`` (``backend.transfer_matrix``); see :mod:`xbarsim.backends.base`.
    ``linear=None`` (auto) asks the backend, ``linear=True`` insists on the transfer matrix (the
    backend raises :class:`InputError` for a circuit it cannot treat as linear) and
    ``linear=False`` always solves directly, in chunks of ``chunk`` vectors.

    The solver raises the backend's ``cache_size`` to at least :data:`TILE_CACHE`: a mapped model
    goes through all of its tiles for every batch of images, so a cache smaller than the number of
    tiles would factor every tile again for every batch.
    """

    def __init__(
        self,
        backend: str | Backend = "ideal",
        *,
        linear: bool | None = None,
        chunk: int = 4096,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        self.backend: Backend = (
            get_backend(backend, **(backend_options or {})) if isinstance(backend, str) else backend
        )
        self.backend.cache_size = max(self.backend.cache_size, TILE_CACHE)
        self.linear = linear
        self.chunk = check_int(chunk, "chunk", minimum=1)

    @property
    def name(self) -> str:
        return self.backend.name

    def is_linear(self, xb: Crossbar) -> bool:
        return self.backend.is_linear(xb) if self.linear is None else self.linear

    def currents(self, xb: Crossbar, V: np.ndarray) -> np.ndarray:
        """Sensed currents (B, N) of tile ``xb`` for input voltages V (B, M)."""
        if self.is_linear(xb):
            return np.asarray(V @ self.backend.transfer_matrix(xb))
        parts = [
            self.backend.solve(xb, V[k : k + self.chunk]).currents for k in range(0, V.shape[0], self.chunk)
        ]
        return np.vstack(parts).astype(np.float64, copy=False)


def sense_tiles(
    layer: MappedLayer, X: np.ndarray, solver: TileSolver, converters: LayerConverters | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-vector gains s (B,) and every tile's raw sensed currents (B, columns) for inputs X (B, n_in).

    The read voltages go through the layer's DAC first, if ``converters`` has one.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != layer.n_in:
        raise InputError(f"layer {layer.name} takes (B, {layer.n_in}) inputs, got {X.shape}")
    V, s = input_voltages(X, layer.v_read)
    if converters is not None:
        converters.check(layer)
        V = converters.voltages(V)
    return s, [solver.currents(t.crossbar, V[:, t.row_start : t.row_stop]) for t in layer.tiles]


def combine_tiles(
    layer: MappedLayer, s: np.ndarray, currents: list[np.ndarray], converters: LayerConverters | None = None
) -> np.ndarray:
    """Weight-unit outputs (B, n_out) from the tiles' sensed currents: ADC, gain, difference, partial sums."""
    Y = np.zeros((s.shape[0], layer.n_out))
    for k, (t, I) in enumerate(zip(layer.tiles, currents)):
        if converters is not None:
            I = converters.currents(k, I)
        if t.gain is not None:
            I = I * t.gain
        Y[:, t.out_start : t.out_stop] += tile_outputs(layer, t, I)
    Y *= (s / (layer.scale * layer.v_read))[:, None]
    return Y


def layer_forward(
    layer: MappedLayer, X: np.ndarray, solver: TileSolver, converters: LayerConverters | None = None
) -> np.ndarray:
    """Pre-activation outputs (B, n_out) in weight units of ``layer`` for input vectors X (B, n_in).

    ``converters``: the layer's DAC (on the read voltages) and per-tile ADCs (on the raw column
    currents, before gains and the pair difference), see :mod:`xbarsim.mapping.converters`.
    """
    s, currents = sense_tiles(layer, X, solver, converters)
    return combine_tiles(layer, s, currents, converters)


def ideal_forward(layer: MappedLayer, X: np.ndarray) -> np.ndarray:
    """``X @ W + b`` with the layer's (quantized) weights: what the circuit should compute."""
    X = np.asarray(X, dtype=np.float64)
    return X @ layer.W + layer.b


# --------------------------------------------------------------------------- whole networks


@dataclass(frozen=True, eq=False)
class MappedModel:
    """A network whose weighted layers are :class:`MappedLayer` s; pooling/flatten stay digital ops.

    ``ops`` is the network's op list (see :mod:`xbarsim.nn.ops`) with every Dense/Conv
    replaced by its mapped layer, in order. ``converters`` is ``None`` (no DAC or ADC) or one
    :class:`~xbarsim.mapping.converters.LayerConverters` (or ``None``) per mapped layer, in order
    (set by :func:`~xbarsim.mapping.with_converters`).
    """

    ops: tuple[Any, ...]
    converters: tuple[LayerConverters | None, ...] | None = None

    def __post_init__(self) -> None:
        if self.converters is not None:
            convs = tuple(self.converters)
            if len(convs) != len(self.layers):
                raise InputError(f"{len(convs)} layer converters for a model with {len(self.layers)} layers")
            for c, layer in zip(convs, self.layers):
                if c is not None:
                    c.check(layer)
            object.__setattr__(self, "converters", convs)

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
        """A copy with the mapped layers replaced in order (e.g. by :meth:`MappedLayer.with_conductances`).

        The converters are kept (same tiles per layer); calibrated ADC full scales stay those of the
        old arrays: run :func:`~xbarsim.mapping.calibrate_converters` again to fit the new ones.
        """
        layers = list(layers)
        if len(layers) != len(self.layers):
            raise InputError(f"{len(layers)} layers given for a model with {len(self.layers)}")
        it = iter(layers)
        ops = tuple(next(it) if isinstance(op, MappedLayer) else op for op in self.ops)
        return MappedModel(ops, self.converters)


def map_model(ops: list[Any], table: LevelTable, **options: Any) -> MappedModel:
    """Map every Dense/Conv op of ``ops`` with :func:`map_matrix` (same options for all layers)."""
    out: list[Any] = []
    k = 0
    for op in ops:
        if isinstance(op, (Dense, Conv)):
            kernel = (
                (int(op.W.shape[0]), int(op.W.shape[1]), int(op.W.shape[2])) if isinstance(op, Conv) else None
            )
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
    flattening are digital (:func:`xbarsim.nn.ops.forward`); the final softmax is skipped (argmax
    unchanged). The model's converters (DAC, ADCs) apply on the circuit path only; its ADCs need a
    full scale (a fixed range, or :func:`~xbarsim.mapping.calibrate_converters`). When ``errors``
    is a list (one :class:`LayerError` per mapped layer, or empty to create them), each layer's
    circuit outputs are compared with the ideal product of the same inputs.
    """
    if (
        solver is not None
        and model.converters is not None
        and not all(c is None or c.calibrated for c in model.converters)
    ):
        raise InputError("the model's ADCs have no full scale yet: give a range or calibrate them on data")
    if errors is not None and not errors:
        errors.extend(LayerError(layer.name) for layer in model.layers)

    def product(k: int, layer: MappedLayer, X: np.ndarray) -> np.ndarray:
        if solver is None:
            return ideal_forward(layer, X)
        Z = layer_forward(layer, X, solver, model.converters[k] if model.converters else None)
        if errors is not None:
            errors[k].add(Z, ideal_forward(layer, X))
        return Z

    return forward(model.ops, x, product, logits=True)
