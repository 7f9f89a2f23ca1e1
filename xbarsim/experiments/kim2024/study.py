"""Figs. 4a and 5: thousands of glyph nets trained as batched arrays, their minimal q and q-curves."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..._validate import check_int
from ...datasets.glyphs import glyphs, one_hot
from ...nn import numpy_net
from ...quant import quantize_weight_range_batched
from .training import DEFAULT_SETTINGS, TrainSettings, check_grid, init_models

log = logging.getLogger(__name__)


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
    settings: TrainSettings = DEFAULT_SETTINGS,
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
    g = check_grid(grid)
    check_int(n_seeds, "n_seeds", minimum=1)
    check_int(models_per_seed, "models_per_seed", minimum=1)
    check_int(first_seed, "first_seed", minimum=0)
    check_int(track_q, "track_q", minimum=1)
    check_int(max_q, "max_q", minimum=1)
    check_int(chunk, "chunk", minimum=1)
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
        rngs, W1, W2 = init_models(g, seeds, models_per_seed, settings)
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
                np.stack([np.asarray(h) for h in res.history]),
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
