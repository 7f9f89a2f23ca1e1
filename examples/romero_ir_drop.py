"""IR drop vs tile size: does a 784-128-10 MLP on 1T1R tiles keep its quantized accuracy?

Issue 5's done criterion asks for circuit accuracy within 1 point of the quantized accuracy at
8 levels with 1 ohm wire segments. Whether that holds depends on the tile size (row and column
currents, hence IR drop, grow with the side T), on the quantizer (a network left on a steep part
of its accuracy curve by coarse bins turns small circuit errors into large accuracy swings) and
on the per-column digital calibration. This study trains ``--seeds`` MLPs (cached), then for every
quantizer x tile side x calibration runs the full test set through the native backend and writes

* ``results.csv``: one row per (seed, method, tile, calibration) with float, quantized and circuit
  accuracy, the gap in points and the per-layer rms relative errors;
* ``summary.csv`` and a printed table: mean and worst gap over seeds, how many seeds are within
  1 point;
* ``gap_vs_tile.png``: gap vs tile side per quantizer and calibration (mean, min-max over seeds).

Run from the repository root, e.g.::

    XBARSIM_DATA=/work/shared/data .venv/bin/python examples/romero_ir_drop.py --epochs 10 --seeds 0,1,2

``--quick`` is a tiny smoke run (1 epoch, few images).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from xbarsim.datasets.idx import load_binary
from xbarsim.experiments.romero_zaliz2021 import InferenceConfig, evaluate
from xbarsim.nn import keras_models as km

FIELDS = [
    "seed",
    "epochs",
    "method",
    "tile",
    "calibration",
    "levels",
    "r_wire",
    "n_test",
    "n_tiles",
    "accuracy_float",
    "accuracy_quantized",
    "accuracy_circuit",
    "gap_points",
    "rms_error_hidden",
    "rms_error_output",
    "seconds",
]


def _list(kind):
    def parse(text: str) -> list:
        try:
            return [kind(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None

    return parse


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data-dir", default=os.environ.get("XBARSIM_DATA"), help="IDX folder (default $XBARSIM_DATA)"
    )
    ap.add_argument("--out", default="examples/out/romero_ir_drop", help="output folder")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=_list(int), default=[0, 1, 2])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--r-wire", type=float, default=1.0)
    ap.add_argument("--methods", type=_list(str), default=["quantile", "lloyd", "weight-range"])
    ap.add_argument("--tiles", type=_list(int), default=[32, 64, 128])
    ap.add_argument("--calibrations", type=_list(str), default=["none", "uniform", "data"])
    ap.add_argument("--cal-images", type=int, default=1000, help="training images for data calibration")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.hidden = 1, [0], 32
        args.methods, args.tiles, args.calibrations = ["quantile", "lloyd"], [32, 128], ["none", "data"]
        args.cal_images = min(args.cal_images, 50)
    return args


def summarize(rows: list[dict]) -> list[dict]:
    """Mean / worst gap over seeds per (method, tile, calibration)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], int(r["tile"]), r["calibration"]), []).append(r)
    out = []
    for (method, tile, cal), rs in sorted(groups.items()):
        gaps = np.array([float(r["gap_points"]) for r in rs])
        out.append(
            {
                "method": method,
                "tile": tile,
                "calibration": cal,
                "n_seeds": len(rs),
                "quantized_mean": float(np.mean([float(r["accuracy_quantized"]) for r in rs])),
                "circuit_mean": float(np.mean([float(r["accuracy_circuit"]) for r in rs])),
                "gap_mean": float(gaps.mean()),
                "gap_min": float(gaps.min()),
                "gap_max": float(gaps.max()),
                "within_1_point": int(np.sum(np.abs(gaps) <= 1.0)),
                "rms_error_hidden_mean": float(np.mean([float(r["rms_error_hidden"]) for r in rs])),
                "rms_error_output_mean": float(np.mean([float(r["rms_error_output"]) for r in rs])),
            }
        )
    return out


def plot(summary: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({s["method"] for s in summary})
    cals = sorted({s["calibration"] for s in summary})
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.6), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], methods):
        for c in cals:
            ss = sorted(
                (s for s in summary if s["method"] == m and s["calibration"] == c), key=lambda s: s["tile"]
            )
            t = np.array([s["tile"] for s in ss])
            mean = np.array([s["gap_mean"] for s in ss])
            err = np.array(
                [[s["gap_mean"] - s["gap_min"] for s in ss], [s["gap_max"] - s["gap_mean"] for s in ss]]
            )
            ax.errorbar(t, mean, yerr=err, marker="o", capsize=3, label=f"calibration {c}")
        ax.axhspan(-1, 1, color="0.9", zorder=0)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("tile side T")
        ax.set_title(m)
    axes[0][0].set_ylabel("quantized - circuit accuracy (points)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    x, y = load_binary("mnist", "train", data_dir=args.data_dir, limit=args.train_limit)
    xt, yt = load_binary("mnist", "test", data_dir=args.data_dir, limit=args.test_limit)
    x_cal = x[: args.cal_images]
    rows: list[dict] = []
    t_start = time.perf_counter()
    print(
        f"{'seed':>4} {'method':<13}{'tile':>5} {'calibration':<12}"
        f"{'quantized':>10}{'circuit':>9}{'gap pts':>9}"
        "   rms error hidden / output"
    )
    for seed in args.seeds:
        path = out / "models" / f"mnist_mlp{args.hidden}_e{args.epochs}_s{seed}_n{x.shape[0]}.keras"
        model, _ = km.load_or_train(
            path,
            km.ArchSpec("mlp", hidden=args.hidden, layers=1),
            x,
            y,
            epochs=args.epochs,
            seed=seed,
            dataset="mnist",
        )
        ops = km.extract(model)
        for method in args.methods:
            for tile in args.tiles:
                for cal in args.calibrations:
                    cfg = InferenceConfig(
                        method=method,
                        levels=args.levels,
                        tile=tile,
                        cell="1t1r",
                        r_wire=args.r_wire,
                        backend="native",
                        backend_options={"mos": "linear"},
                        calibration=cal,
                    )
                    r = evaluate(ops, xt, yt, cfg, x_cal=x_cal)
                    gap = 100 * (r["accuracy_quantized"] - r["accuracy_circuit"])
                    errs = [e["rms_relative"] for e in r["layer_errors"]]
                    rows.append(
                        {
                            "seed": seed,
                            "epochs": args.epochs,
                            "method": method,
                            "tile": tile,
                            "calibration": cal,
                            "levels": args.levels,
                            "r_wire": args.r_wire,
                            "n_test": int(xt.shape[0]),
                            "n_tiles": r["n_tiles"],
                            "accuracy_float": r["accuracy_float"],
                            "accuracy_quantized": r["accuracy_quantized"],
                            "accuracy_circuit": r["accuracy_circuit"],
                            "gap_points": round(gap, 4),
                            "rms_error_hidden": errs[0],
                            "rms_error_output": errs[-1],
                            "seconds": round(r["seconds"], 2),
                        }
                    )
                    print(
                        f"{seed:>4} {method:<13}{tile:>5} {cal:<12}{r['accuracy_quantized']:>10.4f}"
                        f"{r['accuracy_circuit']:>9.4f}{gap:>+9.2f}   {errs[0]:.4f} / {errs[-1]:.4f}",
                        flush=True,
                    )
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    summary = summarize(rows)
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    print(f"\nsummary over {len(args.seeds)} seed(s): gap = quantized - circuit accuracy in points")
    print(
        f"{'method':<13}{'tile':>5} {'calibration':<12}{'quantized':>10}{'gap mean':>9}{'min':>7}{'max':>7}"
        f"{'within 1':>9}   rms error hidden / output"
    )
    for s in summary:
        print(
            f"{s['method']:<13}{s['tile']:>5} {s['calibration']:<12}"
            f"{s['quantized_mean']:>10.4f}{s['gap_mean']:>+9.2f}"
            f"{s['gap_min']:>+7.2f}{s['gap_max']:>+7.2f}{s['within_1_point']:>5}/{s['n_seeds']:<3}"
            f"   {s['rms_error_hidden_mean']:.4f} / {s['rms_error_output_mean']:.4f}"
        )
    plot(
        summary,
        out / "gap_vs_tile.png",
        f"784-{args.hidden}-10 MLP, {args.epochs} epochs, {args.levels} levels, {args.r_wire:g} ohm wires, "
        f"1T1R, {xt.shape[0]} test images, seeds {','.join(map(str, args.seeds))}",
    )
    print(f"{len(rows)} runs in {time.perf_counter() - t_start:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
