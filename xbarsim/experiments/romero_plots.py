"""Figures of the Romero-Zaliz 2021 grid from its results table (standalone Figures, no pyplot).

Rows are dicts as written by ``examples/romero_zaliz_grid.py``: one row per (network, levels) with
``dataset, arch, label, layers, conv, filters, pool, hidden, n_synapses, levels, accuracy_float,
accuracy_quantized``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def _figure(**kw: Any) -> Any:
    """A standalone Figure: no pyplot, so a user's backend and open figures are left alone."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def family(row: dict[str, Any]) -> str:
    """The network family without its width: ``MLP 2 layers`` or ``CNN 1 conv, 16 filters, pool 2``."""
    if row["arch"] == "mlp":
        return f"MLP {int(row['layers'])} hidden layer{'s' if int(row['layers']) > 1 else ''}"
    return f"CNN {int(row['conv'])} conv, {int(row['filters'])} filters, pool {int(row['pool'])}"


def plot_synapses(rows: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 5: number of synapses (weights + biases) of every network, MLPs and CNNs."""
    nets = {}
    for r in rows:
        nets[(r["arch"], r["label"])] = int(r["n_synapses"])
    items = sorted(nets.items(), key=lambda kv: (kv[0][0], kv[1]))
    fig = _figure(figsize=(max(6, 0.28 * len(items)), 4))
    ax = fig.subplots()
    colors = ["tab:blue" if a == "mlp" else "tab:orange" for (a, _), _ in items]
    ax.bar(range(len(items)), [v for _, v in items], color=colors)
    ax.set_xticks(range(len(items)), [lab for (_, lab), _ in items], rotation=90, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("synapses (weights + biases)")
    ax.set_title("Synapse count per network (blue MLP, orange CNN)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_accuracy_vs_hidden(rows: list[dict[str, Any]], dataset: str, path: Path) -> Path:
    """Figs. 8-13: accuracy vs hidden units, one panel per family, one line per number of levels."""
    import matplotlib

    rows = [r for r in rows if r["dataset"] == dataset]
    fams = sorted({family(r) for r in rows})
    n = len(fams)
    cols = min(3, n)
    nrows = int(np.ceil(n / cols))
    fig = _figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, fam in zip(axes.ravel(), fams):
        sub = [r for r in rows if family(r) == fam]
        levels = sorted({int(r["levels"]) for r in sub})
        cmap = matplotlib.colormaps["viridis"]
        for i, k in enumerate(levels):
            pts = sorted(
                (int(r["hidden"]), float(r["accuracy_quantized"])) for r in sub if int(r["levels"]) == k
            )
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "o-",
                ms=3,
                color=cmap(i / max(1, len(levels) - 1)),
                label=f"{k} levels",
            )
        flo = sorted({(int(r["hidden"]), float(r["accuracy_float"])) for r in sub})
        ax.plot([p[0] for p in flo], [p[1] for p in flo], "k--", lw=1, label="float")
        ax.set_xscale("log", base=2)
        ax.set_title(fam, fontsize=9)
        ax.set_xlabel("hidden units")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=6)
    fig.suptitle(f"{dataset}: accuracy vs hidden units per number of levels")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def mlp_cnn_by_level(rows: list[dict[str, Any]], dataset: str) -> dict[str, dict[int, list[float]]]:
    """{"mlp": {k: [accuracies]}, "cnn": {...}} of one dataset."""
    out: dict[str, dict[int, list[float]]] = {"mlp": defaultdict(list), "cnn": defaultdict(list)}
    for r in rows:
        if r["dataset"] == dataset:
            out[r["arch"]][int(r["levels"])].append(float(r["accuracy_quantized"]))
    return out


def plot_mlp_vs_cnn(rows: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 14: mean +- standard deviation of quantized accuracy, MLP vs CNN, per levels and dataset."""
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(figsize=(5 * len(datasets), 3.6))
    axes = fig.subplots(1, len(datasets), squeeze=False)
    for ax, ds in zip(axes.ravel(), datasets):
        groups = mlp_cnn_by_level(rows, ds)
        for arch, off, color in (("mlp", -0.1, "tab:blue"), ("cnn", 0.1, "tab:orange")):
            ks = sorted(groups[arch])
            if not ks:
                continue
            m = [np.mean(groups[arch][k]) for k in ks]
            s = [np.std(groups[arch][k]) for k in ks]
            ax.errorbar(np.array(ks) + off, m, yerr=s, fmt="o-", capsize=3, color=color, label=arch.upper())
        ax.set_title(ds)
        ax.set_xlabel("quantization levels")
        ax.set_ylabel("accuracy (mean +- sd over networks)")
        ax.set_ylim(0, 1)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
