"""Steps 1-2 of Kim 2024 for one seed: train the glyph net, then the weight-range level search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..._validate import check_int, check_real
from ...datasets.glyphs import glyphs, one_hot
from ...errors import InputError
from ...nn import numpy_net
from ...quant import LevelSearch, QuantResult, search_levels, weight_range

N_HIDDEN = 10
N_OUT = 10


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
        check_real(self.lr, "learning rate", positive=True)
        check_real(self.init_scale, "init_scale", positive=True)
        check_int(self.epochs, "epochs", minimum=1)


DEFAULT_SETTINGS = TrainSettings()


def check_grid(grid: object) -> int:
    """The glyph grid: 5 or 7."""
    return check_int(grid, "grid", choices=(5, 7))


def init_models(
    grid: int, seeds: Sequence[int], per_seed: int, settings: TrainSettings
) -> tuple[list[np.random.Generator], np.ndarray, np.ndarray]:
    """One generator per seed and the initial weights of its ``per_seed`` models, concatenated."""
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    parts = [
        numpy_net.init_weights(r, per_seed, grid * grid, N_HIDDEN, N_OUT, settings.init_scale) for r in rngs
    ]
    return rngs, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train_model(grid: int, seed: int, settings: TrainSettings = DEFAULT_SETTINGS) -> numpy_net.TrainResult:
    """Train one net on the ``grid`` glyphs from ``numpy.random.default_rng(seed)``."""
    g = check_grid(grid)
    check_int(seed, "seed", minimum=0)
    rngs, W1, W2 = init_models(g, [seed], 1, settings)
    return numpy_net.train(glyphs(g), one_hot(), W1, W2, rngs, lr=settings.lr, epochs=settings.epochs)


def find_levels(
    weights: Sequence[np.ndarray], *, alpha: float = 1.0, max_q: int = 40
) -> tuple[LevelSearch, QuantResult]:
    """Level search on the glyphs: smallest q whose quantized net recognizes >= alpha."""
    W1 = np.asarray(weights[0])
    grid = check_grid(round(np.sqrt(W1.shape[0])))
    X = glyphs(grid)
    return search_levels(
        weights, lambda w: float(numpy_net.accuracy(w[0], w[1], X)[0]), alpha=alpha, max_q=max_q
    )


def train_and_quantize(
    grid: int, seed: int, *, alpha: float = 1.0, max_q: int = 40, settings: TrainSettings = DEFAULT_SETTINGS
) -> tuple[dict[str, object], QuantResult]:
    """Steps 1-2 for one seed: train, level search; a JSON-ready dict and the quantization."""
    g = check_grid(grid)
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


def pick_seed(
    grid: int,
    *,
    max_levels: int = 4,
    first: int = 0,
    count: int = 200,
    alpha: float = 1.0,
    settings: TrainSettings = DEFAULT_SETTINGS,
    accept: Callable[[QuantResult], bool] | None = None,
    what: str = "",
) -> tuple[int, int]:
    """The first seed of ``first .. first + count - 1`` whose level search ends at q <= ``max_levels``.

    The paper simulated the circuit with a net whose search ended at q = 4 (Section 3.3); this
    picks such a net deterministically (the seeds are tried in order, each trained as
    :func:`train_model` does). ``accept`` (optional) must also approve the quantized net (the
    design checks of :mod:`.seedpick`); ``what`` names that check in the error. Returns
    ``(seed, q)``.
    """
    g = check_grid(grid)
    check_int(max_levels, "max_levels", minimum=1)
    check_int(first, "first seed", minimum=0)
    check_int(count, "seed count", minimum=1)
    for seed in range(first, first + count):
        search, quant = find_levels(train_model(g, seed, settings).model(0), alpha=alpha, max_q=max_levels)
        if search.found and search.q is not None and (accept is None or accept(quant)):
            return seed, int(search.q)
    extra = f" and {what}" if what else ""
    raise InputError(
        f"no seed in {first}..{first + count - 1} reaches recognition {alpha:g} with q <= {max_levels}{extra}"
    )
