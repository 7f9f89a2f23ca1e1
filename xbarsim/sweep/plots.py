"""Summaries and error-bar plots of stored sweep results (matplotlib imported only to draw).

Plots are :class:`matplotlib.figure.Figure` objects saved directly, never through ``pyplot``: a
notebook user's backend and open figures are left as they were.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import atomic_path, check_output_path

#: Parameters that index repetitions rather than conditions: summaries average over them.
REPETITION_PARAMS = ("trial",)


def flat_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One flat dict per point (params, metrics, bookkeeping) and the column order."""
    pkeys: list[str] = []
    mkeys: list[str] = []
    for r in rows:
        pkeys += [k for k in r["params"] if k not in pkeys]
        mkeys += [k for k in r["result"] if k not in mkeys]
    cols = [
        "id",
        "experiment",
        "status",
        *pkeys,
        *mkeys,
        "seconds",
        "attempts",
        "worker",
        "version",
        "finished",
        "error",
    ]
    out = []
    for r in rows:
        d = {"id": r["id"], "experiment": r["experiment"], "status": r["status"]}
        d.update(r["params"])
        d.update(r["result"])
        for k in ("seconds", "attempts", "worker", "version", "finished", "error"):
            d[k] = r[k]
        out.append(d)
    return cols, out


def summarize(
    rows: Sequence[dict[str, Any]],
    metrics: Sequence[str] | None = None,
    over: Sequence[str] = REPETITION_PARAMS,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Mean, standard deviation, min, max and count of each metric over the repetitions.

    Points are grouped by every parameter except those in ``over`` (default: ``trial``); only
    'done' points count.
    """
    done = [r for r in rows if r["status"] == "done"]
    if not done:
        return [], []
    pkeys: list[str] = []
    for r in done:
        pkeys += [k for k in r["params"] if k not in pkeys and k not in over]
    if metrics is None:
        metrics = []
        for r in done:
            metrics += [k for k in r["result"] if k not in metrics]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in done:
        key = tuple(_hashable(r["params"].get(k)) for k in pkeys)
        groups.setdefault(key, []).append(r)
    cols = [*pkeys, "n"]
    for m in metrics:
        cols += [f"{m}_mean", f"{m}_std", f"{m}_min", f"{m}_max"]
    out = []
    for key, members in groups.items():
        d: dict[str, Any] = dict(zip(pkeys, key))
        d["n"] = len(members)
        for m in metrics:
            v = np.array([r["result"].get(m, math.nan) for r in members], dtype=float)
            v = v[np.isfinite(v)]
            d[f"{m}_mean"] = float(v.mean()) if v.size else math.nan
            d[f"{m}_std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
            d[f"{m}_min"] = float(v.min()) if v.size else math.nan
            d[f"{m}_max"] = float(v.max()) if v.size else math.nan
        out.append(d)
    return cols, out


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def write_csv(
    path: str | Path,
    cols: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    inputs: Sequence[str | Path] = (),
) -> None:
    """Write ``rows`` as CSV through a temporary file renamed into place.

    ``path`` may not be one of ``inputs`` (the results file, the sweep file...): an export must
    never overwrite what it reads. A crash mid-write leaves the old file, not half a CSV.
    """
    out = check_output_path(path)
    refuse_overwrite(out, inputs)
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def refuse_overwrite(out: str | Path, inputs: Sequence[str | Path]) -> None:
    """InputError if ``out`` is (by resolved path or by inode) one of ``inputs``."""
    o = Path(out)
    for i in inputs:
        p = Path(i)
        same = o.resolve() == p.resolve()
        if not same and o.exists() and p.exists():
            same = os.path.samefile(o, p)
        if same:
            raise InputError(f"refusing to overwrite an input of this command: {o} is {p}")


def errorbar_data(
    rows: Sequence[dict[str, Any]], x: str, y: str, by: str | None = None, stat: str = "std"
) -> dict[Any, tuple[list[Any], np.ndarray, np.ndarray, np.ndarray]]:
    """``{series value: (x values, mean, error, n)}`` of metric ``y`` against parameter ``x``.

    Every point with the same ``x`` (and ``by``) value is pooled, whatever its other parameters;
    ``stat`` is ``"std"`` (spread of the trials) or ``"ci95"`` (95 % interval of the mean).
    """
    if stat not in ("std", "ci95"):
        raise InputError(f"error-bar statistic must be 'std' or 'ci95', got {stat!r}")
    done = [r for r in rows if r["status"] == "done"]
    if not done:
        raise InputError("no finished points to plot")
    if not any(x in r["params"] for r in done):
        raise InputError(f"parameter {x!r} is not in the results; known: {', '.join(done[0]['params'])}")
    if not any(y in r["result"] for r in done):
        raise InputError(f"metric {y!r} is not in the results; known: {', '.join(done[0]['result'])}")
    if by is not None and not any(by in r["params"] for r in done):
        raise InputError(f"parameter {by!r} is not in the results; known: {', '.join(done[0]['params'])}")
    series: dict[Any, dict[Any, list[float]]] = {}
    for r in done:
        if y not in r["result"]:
            continue
        s = _hashable(r["params"].get(by)) if by else None
        series.setdefault(s, {}).setdefault(_hashable(r["params"].get(x)), []).append(float(r["result"][y]))
    out = {}
    for s, pts in series.items():
        xs = _sorted_keys(list(pts))
        mean = np.array([np.mean(pts[k]) for k in xs])
        n = np.array([len(pts[k]) for k in xs])
        sd = np.array([np.std(pts[k], ddof=1) if len(pts[k]) > 1 else 0.0 for k in xs])
        err = sd if stat == "std" else 1.96 * sd / np.sqrt(n)
        out[s] = (xs, mean, err, n)
    return dict(sorted(out.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def _sorted_keys(keys: list[Any]) -> list[Any]:
    return sorted(keys, key=_sort_key)


def errorbar_plot(
    rows: Sequence[dict[str, Any]],
    x: str,
    y: str,
    out: str | Path,
    *,
    by: str | None = None,
    stat: str = "std",
    title: str | None = None,
) -> Path:
    """Mean of metric ``y`` vs parameter ``x`` with error bars, one series per ``by`` value; saved to ``out``.

    ``y`` may name several metrics separated by commas (one series each, without ``by``).
    """
    metrics = [m.strip() for m in y.split(",") if m.strip()]
    if len(metrics) > 1:
        if by:
            raise InputError("plot either several metrics or one metric by a parameter, not both")
        data = {m: errorbar_data(rows, x, m, None, stat)[None] for m in metrics}
    else:
        data = errorbar_data(rows, x, y, by, stat)
    fmt = check_plot_path(out)
    fig, ax = _figure()
    numeric = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for xs, *_ in data.values() for v in xs
    )
    cats: list[Any] = []
    if not numeric:
        for xs, *_ in data.values():
            cats += [v for v in xs if v not in cats]
    k = len(data)
    for i, (s, (xs, mean, err, n)) in enumerate(data.items()):
        if numeric:  # series side by side around each x, so their error bars stay readable
            allx = sorted({float(v) for xs_, *_ in data.values() for v in xs_})
            step = min(np.diff(allx)) if len(allx) > 1 else 1.0
            xv = np.array(xs, dtype=float) + (i - (k - 1) / 2) * 0.015 * step
        else:  # categories side by side, slightly offset per series
            xv = np.array([cats.index(v) for v in xs], dtype=float) + (i - (k - 1) / 2) * 0.08
        label = f"{by} = {s}" if by else (str(s) if len(metrics) > 1 else None)
        ax.errorbar(
            xv, mean, yerr=err, marker="o", capsize=4, linestyle="-" if numeric else "none", label=label
        )
    if not numeric:
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels([str(c) for c in cats], rotation=20 if len(cats) > 3 else 0)
    ns = sorted({int(v) for *_, n in data.values() for v in n})
    what = "std" if stat == "std" else "95 % CI of the mean"
    ax.set_xlabel(x)
    ylabel = y if len(metrics) == 1 else "value"
    ax.set_ylabel(f"{ylabel} (mean ± {what})")
    ax.set_title(
        title or f"{ylabel} vs {x}  (n = {ns[0] if len(ns) == 1 else f'{ns[0]}-{ns[-1]}'} per point)"
    )
    if by or len(metrics) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, out, fmt)


def hist_plot(
    rows: Sequence[dict[str, Any]],
    y: str,
    out: str | Path,
    *,
    by: str | None = None,
    bins: int = 20,
    title: str | None = None,
) -> Path:
    """Distribution of metric ``y`` over the trials, one histogram per ``by`` value; saved to ``out``."""
    done = [r for r in rows if r["status"] == "done" and y in r["result"]]
    if not done:
        raise InputError(f"no finished points with metric {y!r}")
    if by is not None and not any(by in r["params"] for r in done):
        raise InputError(f"parameter {by!r} is not in the results; known: {', '.join(done[0]['params'])}")
    groups: dict[Any, list[float]] = {}
    for r in done:
        groups.setdefault(_hashable(r["params"].get(by)) if by else None, []).append(float(r["result"][y]))
    fmt = check_plot_path(out)
    allv = np.concatenate([np.asarray(v) for v in groups.values()])
    lo, hi = float(allv.min()), float(allv.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fig, ax = _figure()
    for s, vals in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        v = np.asarray(vals)
        label = f"{by} = {s}: " if by else ""
        ax.hist(
            v,
            bins=edges,
            alpha=0.55,
            label=f"{label}mean {v.mean():.4g}, std {v.std(ddof=1) if v.size > 1 else 0:.3g}, n {v.size}",
        )
    ax.set_xlabel(y)
    ax.set_ylabel("trials")
    ax.set_title(title or f"distribution of {y}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, out, fmt)


def check_plot_path(out: str | Path) -> str:
    """The image format named by ``out``'s suffix, if matplotlib writes it and the folder exists."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(out)
    fmt = path.suffix.lower().lstrip(".")
    known = FigureCanvasBase.get_supported_filetypes()
    if fmt not in known:
        raise InputError(
            f"unknown plot format {path.suffix or '(none)'!r} of {path.name}; use one of "
            f"{', '.join('.' + k for k in sorted(known))}"
        )
    check_output_path(path)
    return fmt


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    return fig, fig.subplots()


def _save(fig: Any, out: str | Path, fmt: str) -> Path:
    """Lay out and write ``fig`` (120 dpi) through a temporary file renamed into place."""
    path = Path(out)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=fmt)
    return path
