"""Figures of Kim et al. 2024 (3, 4a, 5, 6b) from :mod:`xbarsim.experiments.kim2024` results.

matplotlib is imported inside each function, so importing this module is cheap. Each function
builds a standalone :class:`matplotlib.figure.Figure` (no pyplot: a notebook user's backend and
open figures are left alone), writes one PNG and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .kim2024 import StudyResult


def _figure(**kw: Any) -> Any:
    """A standalone Figure: no pyplot, so a user's backend and open figures are left alone."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def _num(x: Any) -> float:
    """A gap figure from a live result or its JSON (where NaN was written as null)."""
    return float("nan") if x is None else float(x)


def _out(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def plot_levels(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Fig. 3: trained weight histogram with the quantization levels and their counts."""
    w = np.concatenate([np.ravel(a) for a in result["weights"]])
    levels = np.asarray(result["levels"])
    counts = np.asarray(result["level_counts"])
    fig = _figure(figsize=(10, 3.8))
    a1, a2 = fig.subplots(1, 2)
    a1.hist(w, bins=60, color="0.6")
    for lv in levels:
        a1.axvline(lv, color="tab:red", lw=1)
    a1.set_xlabel("weight")
    a1.set_ylabel("count")
    a1.set_title(f"{result['n_weights']} trained weights, range {result['weight_range']:.2f}")
    width = 0.8 * (np.min(np.diff(levels)) if levels.size > 1 else 1.0)
    bars = a2.bar(levels, counts, width=width, color="tab:red")
    a2.bar_label(bars, labels=[str(int(c)) for c in counts], fontsize=8)
    a2.set_xlabel("level value")
    a2.set_ylabel("weights at level")
    a2.set_title(f"q = {result['q']}: {levels.size} levels (recognition {result['accuracy_quantized']:.0%})")
    fig.suptitle(f"Kim 2024 Fig. 3 - {result['grid']}x{result['grid']} digits, seed {result['seed']}")
    fig.tight_layout()
    p = _out(path)
    fig.savefig(p, dpi=110)
    return p


def plot_range_vs_q(study: StudyResult, path: str | os.PathLike[str]) -> Path:
    """Fig. 4a: weight range against the minimal number of bins q of every model."""
    found = study.min_q > 0
    fig = _figure(figsize=(6, 4.2))
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # jitter only for display
    ax.scatter(
        study.min_q[found] + rng.uniform(-0.2, 0.2, found.sum()),
        study.weight_range[found],
        s=4,
        alpha=0.3,
    )
    qs = np.unique(study.min_q[found])
    ax.plot(
        qs, [np.median(study.weight_range[found & (study.min_q == q)]) for q in qs], "k.-", label="median"
    )
    ax.set_xlabel(f"minimal q for {study.alpha:.0%} recognition")
    ax.set_ylabel("weight range max(W) - min(W)")
    ax.set_title(
        f"Kim 2024 Fig. 4a - {study.grid}x{study.grid}, {study.n_models} models "
        f"({(~found).sum()} not found up to q={study.max_q})"
    )
    ax.legend()
    fig.tight_layout()
    p = _out(path)
    fig.savefig(p, dpi=110)
    return p


def plot_groups_vs_epoch(study: StudyResult, path: str | os.PathLike[str], n_groups: int = 5) -> Path:
    """Fig. 5: recognition at q = track_q against epoch for seed groups of increasing weight range."""
    fig = _figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    epochs = np.arange(1, study.track_accuracy.shape[0] + 1)
    for label, seed, wr, curve in study.seed_groups(n_groups):
        ax.plot(epochs, 100 * curve, label=f"{label}: seed {seed}, range {wr:.2f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"recognition at q = {study.track_q} (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"Kim 2024 Fig. 5 - {study.grid}x{study.grid}, mean over each seed's models")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = _out(path)
    fig.savefig(p, dpi=110)
    return p


def plot_current_gap(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Fig. 6b: current-gap rate per digit and output at each input voltage."""
    per = result["per_voltage"]
    n = len(per)
    fig = _figure(figsize=(3.8 * (n + 1), 4.0), layout="constrained")
    axes = fig.subplots(1, n + 1)
    axes = np.atleast_1d(axes)
    vmax = 1.0
    for ax, (lab, pv) in zip(axes, per.items()):
        gap = np.array([[np.nan if x is None else x for x in row] for row in pv["current_gap"]], dtype=float)
        im = ax.imshow(100 * gap, vmin=0, vmax=100 * vmax, cmap="viridis")
        ax.set_title(
            f"{lab} V: mean {100 * _num(pv['mean_current_gap']):.1f} %, max "
            f"{100 * _num(pv.get('max_current_gap')):.0f} %, recog. {pv['spice_accuracy']:.0%}",
            fontsize=9,
        )
        ax.set_xlabel("output")
        ax.set_ylabel("digit")
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=axes[:n].tolist(), label="|I_sim - I_calc| / |I_calc| (%)", shrink=0.8)
    ax = axes[n]
    v = [pv["v_in"] for pv in per.values()]
    ax.plot(v, [100 * _num(pv["mean_current_gap"]) for pv in per.values()], "o-", label="mean vs ideal calc.")
    ax.plot(
        v, [100 * _num(pv.get("max_current_gap")) for pv in per.values()], "^-", label="max vs ideal calc."
    )
    ax.plot(
        v,
        [100 * _num(pv.get("mean_current_gap_passive")) for pv in per.values()],
        "s--",
        label="vs PWL node model",
    )
    ax.axhline(27, color="0.5", lw=0.8, ls=":", label="paper: max 27 % at 1 V")
    ax.set_xlabel("input voltage (V)")
    ax.set_ylabel("current gap (%)")
    ax.legend(fontsize=7)
    fig.suptitle(
        f"Kim 2024 Fig. 6b - {result['grid']}x{result['grid']} seed {result['seed']} (q = {result['q']}), "
        f"{result['mapping']}, {result.get('coupling', 'passive')} coupling, input offset "
        f"{result.get('input_offset', 0.0):g} V, {result['backend']}"
    )
    p = _out(path)
    fig.savefig(p, dpi=110)
    return p
