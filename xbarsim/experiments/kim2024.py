"""Kim et al., Micromachines 2024, 15, 1258, end to end: glyphs -> net -> quantization -> circuit.

Procedure (see ``issues show 3``):

1. train the two-layer sigmoid-MSE net on the ten glyphs (:mod:`xbarsim.nn.numpy_net`);
2. weight-range quantization over W1 and W2 together, q = 1, 2, ... until recognition >= alpha
   (:mod:`xbarsim.quant`);
3. map the quantized weights to diode-selector crossbars in one :class:`~xbarsim.circuit.Network`,
   drive the lit pixels with the input voltage, and compare the circuit's output currents with the
   computer calculation (the ideal backend) at several input voltages.

The weight <-> conductance mapping (why it is not the paper's literal 25x10 -> 10x10)
-------------------------------------------------------------------------------------
A passive diode crossbar only adds positive conductances, and layer 1's column voltage is
``V_h = (V_in - V_th) * u / (1 + u)`` with ``u = r_ref * sum(G over lit pixels)``. With one column
per hidden unit and an affine map ``G = g_off + a (w - w_min)``, every hidden voltage carries an
offset ``a * n_lit * (-w_min)`` that changes from digit to digit, and layer 2's diodes turn that
into a different threshold per digit: measured on 20 trained 5x5 nets this ``mapping="single"``
recognizes only 30-70 % of the digits even for the best r_ref (passive model, g_off/g_on from
1e-3 to 1e-1), and ngspice agrees.

So the default ``mapping="differential"`` handles negative weights with column pairs:

* layer 1 is M x (2H + 1): hidden unit j has a "+" column with ``G(max(w, 0))`` and a "-" column
  with ``G(max(-w, 0))``, ``G(v) = g_off + (g_on - g_off) * v / max|W1|``; the last column is a
  bias column with every cell at ``g_on``. Each column ends in ``r_ref`` to ground.
* layer 2 is (2H + 1) x O, sensed as currents into virtual ground. Row "+j" holds ``w2[j]``, row
  "-j" holds ``-w2[j]`` and the bias row holds ``beta * sum_j w2[j, :]``; one affine map
  ``G = g_off + (g_on - g_off) (s - min s) / (max s - min s)`` over these stacked values, so the
  affine offset adds the same current to every output and cannot change the argmax.
* Output k is then ``a * sum_j w2[j,k] (relu(V+_j - V_th) - relu(V-_j - V_th)) + beta' s_k``:
  an odd, saturating hidden response (like ``2 sigmoid(z) - 1``) plus the constant that
  ``sigmoid = (1 + tanh(z/2)) / 2`` needs.
* ``r_ref`` and ``beta`` are chosen per input voltage by :func:`calibrate`: a grid search that
  maximizes recognition, then the recognition margin, of the piecewise-linear *passive* model
  (:func:`passive_outputs`: the real node equations with the ideal diode law, no wires). Nothing
  else about the weights is fitted.

Because the hidden voltage can never exceed ``V_in - V_D``, at 1 V input (``1 - 0.65 = 0.35 V``)
no layer-2 diode can be forward biased in a real circuit; the ideal backend (whose r_ref is an
ideal transimpedance) still computes currents, so 1 V shows a large current gap by construction.

Each cell also records which *device level* it holds (:class:`KimCircuit`): the distinct
conductances used, so a Monte-Carlo run can redraw every cell from its level's distribution.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..analysis import current_gap_rate, mean_gap, recognition, recognition_margin
from ..backends import Backend, get_backend
from ..circuit import CellModel, Crossbar, DiodeModel, Network
from ..datasets.glyphs import glyphs, one_hot
from ..errors import InputError
from ..nn import numpy_net
from ..quant import LevelSearch, QuantResult, quantize_weight_range_batched, search_levels, weight_range

log = logging.getLogger(__name__)

Mapping = Literal["differential", "single"]
MAPPINGS: tuple[str, ...] = ("differential", "single")
N_HIDDEN = 10
N_OUT = 10

__all__ = [
    "CircuitDesign",
    "KimCircuit",
    "StudyResult",
    "TrainSettings",
    "build_circuit",
    "calibrate",
    "calibration_candidates",
    "deck_text",
    "evaluate_circuit",
    "find_levels",
    "glyph_voltages",
    "ideal_outputs",
    "layer_conductances",
    "passive_outputs",
    "run_kim2024",
    "run_study",
    "shockley_outputs",
    "train_and_quantize",
    "train_model",
]


# ---------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainSettings:
    """How the nets are trained.

    Attributes
    ----------
    lr:
        Learning rate of plain per-sample backpropagation.
    epochs:
        Epochs trained (each = the ten digits in a fresh random order); recognition reaching
        100 % is recorded per model but training runs the full count, which gives the weights
        the margin that quantization eats into.
    init_scale:
        Standard deviation of the normal initial weights.
    """

    lr: float = 1.0
    epochs: int = 500
    init_scale: float = 0.5

    def __post_init__(self) -> None:
        if not self.lr > 0 or not self.init_scale > 0:
            raise InputError("learning rate and init_scale must be > 0")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise InputError(f"epochs must be an integer >= 1, got {self.epochs!r}")


def _check_grid(grid: object) -> int:
    if isinstance(grid, bool) or grid not in (5, 7):
        raise InputError(f"grid must be 5 or 7, got {grid!r}")
    return int(grid)  # type: ignore[arg-type]


def _init(grid: int, seeds: Sequence[int], per_seed: int, settings: TrainSettings):
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    parts = [
        numpy_net.init_weights(r, per_seed, grid * grid, N_HIDDEN, N_OUT, settings.init_scale) for r in rngs
    ]
    return rngs, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train_model(grid: int, seed: int, settings: TrainSettings = TrainSettings()) -> numpy_net.TrainResult:
    """Train one net on the ``grid`` glyphs from ``numpy.random.default_rng(seed)``."""
    g = _check_grid(grid)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    rngs, W1, W2 = _init(g, [seed], 1, settings)
    return numpy_net.train(glyphs(g), one_hot(), W1, W2, rngs, lr=settings.lr, epochs=settings.epochs)


def find_levels(
    weights: Sequence[np.ndarray], *, alpha: float = 1.0, max_q: int = 40
) -> tuple[LevelSearch, QuantResult]:
    """Level search on the glyphs: smallest q whose quantized net recognizes >= alpha."""
    W1 = np.asarray(weights[0])
    grid = _check_grid(round(np.sqrt(W1.shape[0])))
    X = glyphs(grid)
    return search_levels(
        weights, lambda w: float(numpy_net.accuracy(w[0], w[1], X)[0]), alpha=alpha, max_q=max_q
    )


# ------------------------------------------------------------------------------------------ studies
@dataclass(frozen=True, eq=False)
class StudyResult:
    """Many models trained together (Figs. 4a and 5).

    Attributes
    ----------
    grid:
        5 or 7.
    seeds:
        (P,) seed of each model's group.
    weight_range:
        (P,) max(W) - min(W) of the trained weights.
    min_q:
        (P,) smallest q reaching ``alpha`` (-1 when none up to ``max_q``).
    accuracy_float:
        (P,) recognition of the unquantized net.
    first_perfect_epoch:
        (P,) first epoch with 100 % recognition (-1 if never).
    track_q:
        q used for the per-epoch curves.
    track_accuracy:
        (epochs, P) recognition of each model quantized at ``track_q`` after every epoch.
    seconds:
        Wall time of training plus level search.
    """

    grid: int
    seeds: np.ndarray
    weight_range: np.ndarray
    min_q: np.ndarray
    accuracy_float: np.ndarray
    first_perfect_epoch: np.ndarray
    track_q: int
    track_accuracy: np.ndarray
    alpha: float
    max_q: int
    seconds: float
    settings: TrainSettings = field(default_factory=TrainSettings)

    @property
    def n_models(self) -> int:
        return int(self.seeds.size)

    def seed_groups(self, n_groups: int = 5) -> list[tuple[str, int, float, np.ndarray]]:
        """Groups A, B, ... : the seeds at evenly spaced ranks of mean weight range (low to high).

        Returns ``(label, seed, mean weight range, (epochs,) mean recognition at track_q)``.
        """
        useeds = np.unique(self.seeds)
        means = np.array([self.weight_range[self.seeds == s].mean() for s in useeds])
        order = np.argsort(means, kind="stable")
        n = min(n_groups, useeds.size)
        picks = order[np.round(np.linspace(0, useeds.size - 1, n)).astype(int)]
        out = []
        for label, k in zip("ABCDEFGHIJ", picks):
            mask = self.seeds == useeds[k]
            out.append((label, int(useeds[k]), float(means[k]), self.track_accuracy[:, mask].mean(axis=1)))
        return out

    def summary(self) -> dict[str, object]:
        found = self.min_q > 0
        return {
            "grid": self.grid,
            "n_models": self.n_models,
            "perfect_float": float(np.mean(self.first_perfect_epoch > 0)),
            "q_found": float(np.mean(found)),
            "q_median": float(np.median(self.min_q[found])) if found.any() else None,
            "q_le_8": float(np.mean(found & (self.min_q <= 8))),
            "weight_range_mean": float(self.weight_range.mean()),
            "corr_range_q": float(np.corrcoef(self.weight_range[found], self.min_q[found])[0, 1])
            if found.sum() > 2
            else None,
            "seconds": self.seconds,
        }


def _min_q(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, alpha: float, max_q: int) -> np.ndarray:
    P = W1.shape[0]
    best = np.full(P, -1, dtype=np.int64)
    for q in range(1, max_q + 1):
        todo = best < 0
        if not todo.any():
            break
        (a, b), _ = quantize_weight_range_batched([W1[todo], W2[todo]], q, count_levels=False)
        ok = numpy_net.accuracy(a, b, X) >= alpha - 1e-12
        idx = np.flatnonzero(todo)[ok]
        best[idx] = q
    return best


def run_study(
    grid: int = 5,
    *,
    n_seeds: int = 60,
    models_per_seed: int = 100,
    first_seed: int = 0,
    settings: TrainSettings = TrainSettings(),
    alpha: float = 1.0,
    max_q: int = 40,
    track_q: int = 4,
    chunk: int = 1500,
) -> StudyResult:
    """Train ``n_seeds * models_per_seed`` nets as batched arrays; min q and q=track_q curves.

    Seed ``s`` seeds one generator that draws its ``models_per_seed`` models' initial weights
    and sample orders. Models are trained ``chunk`` at a time (whole seed groups) to keep the
    arrays in cache; results do not depend on ``chunk``.
    """
    g = _check_grid(grid)
    if n_seeds < 1 or models_per_seed < 1:
        raise InputError("n_seeds and models_per_seed must be >= 1")
    t0 = time.perf_counter()
    X, T = glyphs(g), one_hot()
    seeds_all = list(range(first_seed, first_seed + n_seeds))
    per_chunk = max(1, chunk // models_per_seed)
    parts: list[tuple[np.ndarray, ...]] = []

    def monitor(epoch: int, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
        (a, b), _ = quantize_weight_range_batched([W1, W2], track_q, count_levels=False)
        return numpy_net.accuracy(a, b, X).astype(np.float32)

    for c in range(0, n_seeds, per_chunk):
        seeds = seeds_all[c : c + per_chunk]
        rngs, W1, W2 = _init(g, seeds, models_per_seed, settings)
        res = numpy_net.train(X, T, W1, W2, rngs, lr=settings.lr, epochs=settings.epochs, monitor=monitor)
        wr = np.ptp(
            np.concatenate([res.W1.reshape(res.n_models, -1), res.W2.reshape(res.n_models, -1)], 1), axis=1
        )
        parts.append(
            (
                np.repeat(seeds, models_per_seed),
                wr,
                _min_q(res.W1, res.W2, X, alpha, max_q),
                res.accuracy,
                res.first_perfect_epoch,
                np.stack(res.history),
            )
        )
        log.info("study: seeds %d-%d done (%.1f s)", seeds[0], seeds[-1], time.perf_counter() - t0)
    cat = [np.concatenate([p[k] for p in parts], axis=1 if k == 5 else 0) for k in range(6)]
    return StudyResult(
        grid=g,
        seeds=cat[0],
        weight_range=cat[1],
        min_q=cat[2],
        accuracy_float=cat[3],
        first_perfect_epoch=cat[4],
        track_q=track_q,
        track_accuracy=cat[5],
        alpha=alpha,
        max_q=max_q,
        seconds=time.perf_counter() - t0,
        settings=settings,
    )


# ------------------------------------------------------------------------------------------ circuit
@dataclass(frozen=True)
class CircuitDesign:
    """Fixed circuit choices (the per-voltage r_ref and bias scale come from :func:`calibrate`).

    Attributes
    ----------
    mapping:
        ``"differential"`` (default, see module notes) or ``"single"`` (the paper's literal
        M x 10 -> 10 x 10 shape with an affine map; kept for comparison).
    g_on, g_off:
        Largest and smallest cell conductance (S); 1e-4 / 1e-7 = 10 kOhm / 10 MOhm, an on/off
        ratio of 1000, which keeps weight 0 nearly off.
    r_wire, r_driver:
        Wire segment and driver resistances (ohm); 0 = ideal, as in the paper's figure.
    diode:
        Selector diode (threshold 0.65 V).
    """

    mapping: Mapping = "differential"
    g_on: float = 1e-4
    g_off: float = 1e-7
    r_wire: float = 0.0
    r_driver: float = 0.0
    diode: DiodeModel = field(default_factory=DiodeModel)

    def __post_init__(self) -> None:
        if self.mapping not in MAPPINGS:
            raise InputError(f"mapping must be one of {', '.join(MAPPINGS)}, got {self.mapping!r}")
        if not 0 < self.g_off < self.g_on:
            raise InputError(f"need 0 < g_off < g_on, got {self.g_off}, {self.g_on}")


@dataclass(frozen=True, eq=False)
class KimCircuit:
    """The two-layer circuit of one net at one input voltage, with each cell's device level.

    Attributes
    ----------
    network:
        The :class:`~xbarsim.circuit.Network` (layer 1 with r_ref, layer 2 virtual ground).
    level_index:
        Per layer, int array shaped like that layer's G: index into ``level_conductance``.
    level_conductance:
        (K,) sorted distinct conductances (S) the cells are programmed to (the device levels).
    v_in:
        Input voltage of a lit pixel (V).
    r_ref:
        Layer-1 reference resistance (ohm).
    bias_scale:
        beta of the bias row (differential mapping; 0 for single).
    mapping:
        Which mapping built it.
    """

    network: Network
    level_index: tuple[np.ndarray, ...]
    level_conductance: np.ndarray
    v_in: float
    r_ref: float
    bias_scale: float
    mapping: str

    def with_conductances(self, G: Sequence[np.ndarray]) -> Network:
        """The same network with new per-layer conductance matrices (e.g. sampled per level)."""
        layers = self.network.layers
        if len(G) != len(layers):
            raise InputError(f"need {len(layers)} conductance matrices, got {len(G)}")
        return Network(tuple(xb.replace(G=np.asarray(g)) for xb, g in zip(layers, G)))


def layer_conductances(
    quantized: QuantResult | Sequence[np.ndarray],
    design: CircuitDesign = CircuitDesign(),
    bias_scale: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Conductance matrices (G1, G2) of a net under ``design.mapping`` (see module notes)."""
    W = quantized.weights if isinstance(quantized, QuantResult) else list(quantized)
    W1, W2 = (np.asarray(w, dtype=np.float64) for w in W)
    g_on, g_off = design.g_on, design.g_off
    if design.mapping == "single":
        lo = min(W1.min(), W2.min())
        span = max(W1.max(), W2.max()) - lo
        a = (g_on - g_off) / span if span > 0 else 0.0
        return g_off + a * (W1 - lo), g_off + a * (W2 - lo)
    M, H = W1.shape
    big = float(np.abs(W1).max())
    a1 = (g_on - g_off) / big if big > 0 else 0.0
    G1 = np.empty((M, 2 * H + 1))
    G1[:, 0 : 2 * H : 2] = g_off + a1 * np.maximum(W1, 0.0)
    G1[:, 1 : 2 * H : 2] = g_off + a1 * np.maximum(-W1, 0.0)
    G1[:, 2 * H] = g_on
    S = np.empty((2 * H + 1, W2.shape[1]))
    S[0 : 2 * H : 2] = W2
    S[1 : 2 * H : 2] = -W2
    S[2 * H] = bias_scale * W2.sum(axis=0)
    span = float(S.max() - S.min())
    a2 = (g_on - g_off) / span if span > 0 else 0.0
    return G1, g_off + a2 * (S - S.min())


def passive_outputs(G1: np.ndarray, G2: np.ndarray, V: np.ndarray, r_ref: float, v_th: float) -> np.ndarray:
    """Output currents (B, O) of the two-layer diode circuit with the ideal diode law and no wires.

    Layer-1 sense node j obeys ``sum_lit G1[i,j] (V_i - V_th - V_j)+ = V_j / r_ref +
    sum_k G2[j,k] (V_j - V_th)+``; with binary inputs at one voltage this is solved in closed form
    (unlit rows are reverse biased). Unlike the ideal backend it includes the loading of the
    hidden voltages, so it predicts what the real circuit can do.
    """
    V = np.asarray(V, dtype=np.float64)
    v_on = V.max(axis=1, keepdims=True)
    if np.any((V > 0) & (V != v_on)):
        raise InputError("passive_outputs needs every lit input at the same voltage")
    lit = (V > 0).astype(np.float64)
    d = np.maximum(v_on - v_th, 0.0)
    Gs = lit @ G1
    G2r = G2.sum(axis=1)[None, :]
    Vh = d * Gs / (Gs + 1.0 / r_ref)
    Vh_on = (d * Gs + v_th * G2r) / (Gs + 1.0 / r_ref + G2r)
    Vh = np.where(Vh > v_th, Vh_on, Vh)
    return np.maximum(Vh - v_th, 0.0) @ G2


def _diode_cell_current(v: np.ndarray, r: np.ndarray, is_: float, nvt: float) -> np.ndarray:
    """Current of a Shockley diode in series with r at total voltage v (Lambert/Wright omega form)."""
    from scipy.special import wrightomega

    return nvt / r * wrightomega(np.log(is_ * r / nvt) + (v + is_ * r) / nvt) - is_


def shockley_outputs(
    G1: np.ndarray, G2: np.ndarray, V: np.ndarray, r_ref: float, diode: DiodeModel, *, iterations: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Output currents (B, O) and hidden voltages (B, N1) with the real (Shockley) diode law.

    The same node equations as :func:`passive_outputs` but each cell is a level-1 diode
    (IS, N at 27 degC) in series with its resistor, whose current has a closed form through the
    Wright omega function; each hidden node is then solved by safeguarded Newton steps. Without
    wire resistance this is what ngspice computes, so calibration can trust it.
    """
    from ..circuit import VT_27C

    V = np.asarray(V, dtype=np.float64)
    nvt = diode.n * VT_27C
    lit = V > 0
    v_on = V.max(axis=1)
    R1 = 1.0 / G1[None, :, :]  # (1, M, N1)
    R2 = 1.0 / G2[None, :, :]  # (1, N1, O)
    lo = np.zeros((V.shape[0], G1.shape[1]))
    hi = np.broadcast_to(v_on[:, None], lo.shape).copy()
    vh = 0.5 * (lo + hi)
    w = lit[:, :, None].astype(np.float64)
    for _ in range(iterations):
        i1 = _diode_cell_current(v_on[:, None, None] - vh[:, None, :], R1, diode.is_, nvt)
        i2 = _diode_cell_current(vh[:, :, None], R2, diode.is_, nvt)
        f = np.sum(w * i1, axis=1) - vh / r_ref - i2.sum(axis=2)
        g1 = 1.0 / (R1 + nvt / (i1 + diode.is_))
        g2 = 1.0 / (R2 + nvt / (i2 + diode.is_))
        df = -np.sum(w * g1, axis=1) - 1.0 / r_ref - g2.sum(axis=2)
        lo = np.where(f > 0, vh, lo)
        hi = np.where(f > 0, hi, vh)
        step = vh - f / df
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        if np.max(np.abs(new - vh)) < 1e-10:
            vh = new
            break
        vh = new
    out = _diode_cell_current(vh[:, :, None], R2, diode.is_, nvt).sum(axis=1)
    return out, vh


def ideal_outputs(G1: np.ndarray, G2: np.ndarray, V: np.ndarray, r_ref: float, v_th: float) -> np.ndarray:
    """The computer calculation: ideal diode law, column at 0 V, r_ref an ideal transimpedance."""
    hidden = (np.maximum(np.asarray(V, dtype=np.float64) - v_th, 0.0) @ G1) * r_ref
    return np.maximum(hidden - v_th, 0.0) @ G2


def calibration_candidates(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign = CircuitDesign(),
    *,
    r_ref_grid: np.ndarray | None = None,
    bias_grid: np.ndarray | None = None,
) -> list[tuple[float, float, float, float]]:
    """All ``(r_ref, bias_scale, recognition, margin)`` of the grid search, best first.

    Scored on :func:`passive_outputs` (the circuit's own node equations, ideal diode law). When
    ``v_in - V_th <= V_th`` no hidden voltage of a passive circuit can forward-bias layer 2, so
    the passive model is silent everywhere; then the ideal calculation is scored instead.
    """
    W = quantized.weights if isinstance(quantized, QuantResult) else list(quantized)
    V = glyph_voltages(round(np.sqrt(np.asarray(W[0]).shape[0])), v_in)
    r_grid = np.logspace(2, 7, 51) if r_ref_grid is None else np.asarray(r_ref_grid, dtype=np.float64)
    if design.mapping == "differential":
        b_grid = np.linspace(0.0, 0.5, 26) if bias_grid is None else np.asarray(bias_grid, dtype=np.float64)
    else:
        b_grid = np.zeros(1)
    vth = design.diode.v_threshold
    model = passive_outputs if v_in - vth > vth else ideal_outputs
    cands = []
    for b in b_grid:
        G1, G2 = layer_conductances(W, design, float(b))
        for r in r_grid:
            out = model(G1, G2, V, float(r), vth)
            cands.append((float(r), float(b), recognition(out), recognition_margin(out)))
    cands.sort(key=lambda c: (-c[2], -c[3], c[0], c[1]))
    return cands


def calibrate(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign = CircuitDesign(),
    *,
    backend: str | Backend | None = None,
    tries: int = 4,
    refine: int = 20,
) -> tuple[float, float, float, float]:
    """Choose r_ref (and the bias scale) for one input voltage.

    The grid search of :func:`calibration_candidates` ranks the settings on the piecewise-linear
    passive model; the best ``refine`` are re-scored on :func:`shockley_outputs` (the real diode
    law, which shifts hidden voltages near the threshold). With ``backend`` given, up to ``tries``
    of the best are then simulated and the first that recognizes all ten digits is kept (else the
    one that recognizes most). Returns ``(r_ref, bias_scale, recognition, margin)``, recognition
    and margin from the backend when one was used, else from the Shockley model.
    """
    W = quantized.weights if isinstance(quantized, QuantResult) else list(quantized)
    V = glyph_voltages(round(np.sqrt(np.asarray(W[0]).shape[0])), v_in)
    vth = design.diode.v_threshold
    if v_in - vth > vth:
        coarse = calibration_candidates(quantized, v_in, design)[:refine]
    else:  # the PWL model is silent: score a coarse grid on the Shockley model directly
        coarse = calibration_candidates(
            quantized, v_in, design, r_ref_grid=np.logspace(3, 7, 9), bias_grid=np.array([0.0, 0.1, 0.25])
        )
    cands = []
    for r, b, _, _ in coarse:
        G1, G2 = layer_conductances(W, design, b)
        out, _ = shockley_outputs(G1, G2, V, r, design.diode)
        cands.append((r, b, recognition(out), recognition_margin(out)))
    cands.sort(key=lambda c: (-c[2], -c[3], c[0], c[1]))
    if backend is None:
        return cands[0]
    best: tuple[float, float, float, float] | None = None
    seen: set[tuple[float, float]] = set()
    for r, b, _, _ in cands:
        if len(seen) >= tries:
            break
        if (r, b) in seen:
            continue
        seen.add((r, b))
        kc = build_circuit(quantized, v_in, design=design, r_ref=r, bias_scale=b)
        acc, cur = evaluate_circuit(kc.network, V, backend)
        cand = (r, b, acc, recognition_margin(cur))
        if best is None or cand[2:] > best[2:]:
            best = cand
        if acc >= 1.0:
            break
    assert best is not None
    return best


def glyph_voltages(grid: int, v_in: float) -> np.ndarray:
    """(10, grid*grid) input voltages: a lit pixel at ``v_in`` volts, a dark one at 0 V."""
    if not np.isfinite(v_in) or not v_in > 0:
        raise InputError(f"input voltage must be > 0 V, got {v_in!r}")
    return glyphs(_check_grid(grid)) * float(v_in)


def build_circuit(
    quantized: QuantResult,
    v_in: float,
    *,
    design: CircuitDesign = CircuitDesign(),
    r_ref: float | None = None,
    bias_scale: float | None = None,
    calibrate_with: str | Backend | None = None,
) -> KimCircuit:
    """The Network of a quantized net at input voltage ``v_in``.

    ``r_ref``/``bias_scale`` not given are chosen by :func:`calibrate` (verified on the backend
    ``calibrate_with`` when given).
    """
    if r_ref is None or bias_scale is None:
        r_cal, b_cal, _, _ = calibrate(quantized, v_in, design, backend=calibrate_with)
        r_ref = r_cal if r_ref is None else r_ref
        bias_scale = b_cal if bias_scale is None else bias_scale
    if design.mapping == "single":
        bias_scale = 0.0
    G1, G2 = layer_conductances(quantized, design, bias_scale)
    cell = CellModel(kind="diode", diode=design.diode)
    net = Network(
        (
            Crossbar(
                G1, cell, r_wire=design.r_wire, r_driver=design.r_driver, r_ref=float(r_ref), name="kim_l1"
            ),
            Crossbar(G2, cell, r_wire=design.r_wire, r_driver=design.r_driver, r_ref=None, name="kim_l2"),
        )
    )
    table, inverse = np.unique(np.concatenate([G1.ravel(), G2.ravel()]), return_inverse=True)
    idx1 = inverse[: G1.size].reshape(G1.shape)
    idx2 = inverse[G1.size :].reshape(G2.shape)
    return KimCircuit(net, (idx1, idx2), table, float(v_in), float(r_ref), float(bias_scale), design.mapping)


def evaluate_circuit(
    network: Network, V: np.ndarray, backend: str | Backend = "ideal"
) -> tuple[float, np.ndarray]:
    """Recognition (argmax of the output currents) and the (10, O) currents of ``network``."""
    be = get_backend(backend) if isinstance(backend, str) else backend
    sol = be.solve(network, V)
    return recognition(sol.currents), np.asarray(sol.currents)


# ----------------------------------------------------------------------------------------- run it
def deck_text(
    grid: int,
    seed: int,
    v_in: float,
    *,
    alpha: float = 1.0,
    max_q: int = 40,
    settings: TrainSettings = TrainSettings(),
    design: CircuitDesign = CircuitDesign(),
) -> str:
    """ngspice deck of one seed's circuit at ``v_in`` driven by all ten glyphs (a 10-point sweep).

    r_ref and the bias scale come from the passive-model calibration alone (no simulator
    needed), so the deck is a pure function of its arguments.
    """
    from ..netlist import write_netlist

    _, quant = train_and_quantize(grid, seed, alpha=alpha, max_q=max_q, settings=settings)
    kc = build_circuit(quant, float(v_in), design=design)
    text = write_netlist(
        kc.network,
        glyph_voltages(grid, float(v_in)),
        title=f"kim2024 {grid}x{grid} seed {seed} at {v_in:g} V",
    )
    title, rest = text.split("\n", 1)
    head = [
        title,
        (
            f"* Kim et al. 2024 circuit: {design.mapping} mapping, q = {quant.bins}, r_ref = {kc.r_ref:.6g} ohm, "
            f"bias scale = {kc.bias_scale:g}"
        ),
        f"* sweep point k = digit k ({grid}x{grid} glyph, lit pixel = {v_in:g} V); outputs i(Vam1_k) = digit score k",
        (
            f"* regenerate: python examples/kim2024_fig6b.py --grid {grid} --seed {seed} --epochs {settings.epochs} "
            f"--deck <this file> --deck-voltage {v_in:g}"
        ),
    ]
    return "\n".join(head) + "\n" + rest


def _label(v: float) -> str:
    return f"{v:g}"


def train_and_quantize(
    grid: int, seed: int, *, alpha: float = 1.0, max_q: int = 40, settings: TrainSettings = TrainSettings()
) -> tuple[dict[str, object], QuantResult]:
    """Steps 1-2 for one seed: train, level search; a JSON-ready dict and the quantization."""
    g = _check_grid(grid)
    trained = train_model(g, seed, settings)
    w = trained.model(0)
    search, quant = find_levels(w, alpha=alpha, max_q=max_q)
    X = glyphs(g)
    out: dict[str, object] = {
        "grid": g,
        "seed": int(seed),
        "alpha": float(alpha),
        "max_q": int(max_q),
        "n_weights": int(sum(a.size for a in w)),
        "weight_range": weight_range(w),
        "q": search.q,
        "q_found": search.found,
        "levels": quant.levels.tolist(),
        "level_counts": quant.counts.tolist(),
        "accuracy_float": float(trained.accuracy[0]),
        "first_perfect_epoch": int(trained.first_perfect_epoch[0]),
        "epochs": settings.epochs,
        "accuracy_quantized": float(numpy_net.accuracy(quant.weights[0], quant.weights[1], X)[0]),
        "search": [list(t) for t in search.tried],
        "weights": [a.tolist() for a in w],
        "quantized_weights": [a.tolist() for a in quant.weights],
    }
    return out, quant


def run_kim2024(
    grid: int = 5,
    seed: int = 0,
    *,
    alpha: float = 1.0,
    max_q: int = 40,
    voltages: Sequence[float] = (1.0, 5.0, 10.0),
    voltage_labels: Sequence[str] | None = None,
    backend: str | Backend = "ngspice",
    settings: TrainSettings = TrainSettings(),
    design: CircuitDesign = CircuitDesign(),
) -> dict[str, object]:
    """The whole paper for one seed; a JSON-ready dict (keys listed in issue 3).

    ``per_voltage`` is keyed by ``voltage_labels`` (default ``f"{v:g}"``), each with
    ``spice_accuracy``, ``current_gap`` (digits x outputs, NaN where I_calc = 0),
    ``mean_current_gap``, ``ideal_accuracy``, ``model_accuracy`` (passive model), ``r_ref``,
    ``bias_scale`` and the two current matrices.
    """
    g = _check_grid(grid)
    labels = [_label(v) for v in voltages] if voltage_labels is None else list(voltage_labels)
    if len(labels) != len(voltages) or not voltages:
        raise InputError("need one label per voltage and at least one voltage")
    be = get_backend(backend) if isinstance(backend, str) else backend
    t0 = time.perf_counter()
    out, quant = train_and_quantize(g, seed, alpha=alpha, max_q=max_q, settings=settings)
    out["backend"] = be.name
    out["mapping"] = design.mapping
    out["g_on"], out["g_off"] = design.g_on, design.g_off
    per: dict[str, object] = {}
    for v, lab in zip(voltages, labels):
        kc = build_circuit(quant, float(v), design=design, calibrate_with=be)
        V = glyph_voltages(g, float(v))
        acc, i_sim = evaluate_circuit(kc.network, V, be)
        ideal_acc, i_calc = evaluate_circuit(kc.network, V, "ideal")
        G1, G2 = (xb.G for xb in kc.network.layers)
        model = passive_outputs(G1, G2, V, kc.r_ref, design.diode.v_threshold)
        gap = current_gap_rate(i_sim, i_calc, floor=1e-15)
        gap_model = current_gap_rate(i_sim, model, floor=1e-15)
        exact, _ = shockley_outputs(G1, G2, V, kc.r_ref, design.diode)
        per[lab] = {
            "v_in": float(v),
            "spice_accuracy": acc,
            "ideal_accuracy": ideal_acc,
            "model_accuracy": recognition(model),
            "current_gap": [[None if not np.isfinite(x) else float(x) for x in row] for row in gap],
            "mean_current_gap": mean_gap(gap),
            "max_current_gap": float(np.nanmax(gap)) if np.isfinite(gap).any() else None,
            "mean_current_gap_passive": mean_gap(gap_model),
            "shockley_model_rel_error": float(
                np.max(np.abs(i_sim - exact)) / max(np.max(np.abs(exact)), 1e-300)
            ),
            "r_ref": kc.r_ref,
            "bias_scale": kc.bias_scale,
            "i_sim": i_sim.tolist(),
            "i_calc": i_calc.tolist(),
            "n_device_levels": int(kc.level_conductance.size),
        }
    out["per_voltage"] = per
    out["seconds"] = time.perf_counter() - t0
    return out
