"""Circuit accuracy vs ADC bits: how many bits do the column ADCs of 128x128 1T1R tiles need?

A 784-128-10 MLP (trained once, cached) is quantized to 4 and 8 levels (Lloyd-Max by default),
mapped on 128x128 1T1R tiles with 1 ohm wire segments and run through the native backend
(``mos="linear"``: the tiles are linear, so every image costs one product with each tile's
transfer matrix). Every sensed column gets an ADC of 2..10 bits on its raw current (before the
differential subtraction and the partial-sum addition, see :mod:`xbarsim.mapping.converters`),
its full scale calibrated per column on ``--cal-images`` training images through the same
circuit. For each level count the script prints the accuracy per bit count next to the
unconverted circuit and the smallest bit count from which on accuracy stays within 0.5 points of
it, and writes

* ``romero_adc_bits.csv``: one row per (levels, bits) with float, quantized, unconverted-circuit
  and converted-circuit accuracy;
* ``romero_adc_bits.png``: accuracy vs ADC bits, one curve per level count.

Run from the repository root, e.g.::

    XBARSIM_DATA=/work/shared/data python examples/romero_adc.py --epochs 30 --out docs/figures

``--quick`` is a tiny smoke run (1 epoch, a small MLP, few bits and images).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from xbarsim.datasets.idx import load_binary
from xbarsim.experiments.romero_zaliz2021 import InferenceConfig, accuracy, apply_converters, build_circuit
from xbarsim.mapping import TileSolver, calibrate, model_forward
from xbarsim.nn import keras_models as km

FIELDS = [
    "levels",
    "adc_bits",
    "dac_bits",
    "method",
    "calibration",
    "tile",
    "r_wire",
    "epochs",
    "n_test",
    "n_cal",
    "accuracy_float",
    "accuracy_quantized",
    "accuracy_unconverted",
    "accuracy_circuit",
    "gap_points",
]
#: Points of accuracy within which a bit count counts as enough.
TOLERANCE = 0.5


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data-dir", default=os.environ.get("XBARSIM_DATA"), help="IDX folder (default $XBARSIM_DATA)"
    )
    ap.add_argument("--out", default="examples/out/romero_adc", help="folder for the CSV and the figure")
    ap.add_argument("--cache", default="examples/out/romero_adc/models", help="trained-model cache folder")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--levels", type=_ints, default=[4, 8])
    ap.add_argument("--bits", type=_ints, default=list(range(2, 11)), help="ADC bits (default 2..10)")
    ap.add_argument("--dac-bits", type=int, default=None, help="also quantize read voltages (default: exact)")
    ap.add_argument("--method", default="lloyd", choices=("quantile", "lloyd", "weight-range"))
    ap.add_argument("--calibration", default="none", choices=("none", "uniform", "data"))
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--r-wire", type=float, default=1.0)
    ap.add_argument("--cal-images", type=int, default=10000, help="training images for the ADC ranges")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.hidden, args.bits = 1, 32, [2, 6, 12]
        args.cal_images = min(args.cal_images, 50)
    return args


def enough_bits(rows: list[dict]) -> int | None:
    """Smallest bit count from which on every larger one is within TOLERANCE points of unconverted."""
    ok = None
    for r in sorted(rows, key=lambda r: -int(r["adc_bits"])):
        if float(r["gap_points"]) > TOLERANCE:
            break
        ok = int(r["adc_bits"])
    return ok


def plot(rows: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for i, levels in enumerate(sorted({int(r["levels"]) for r in rows})):
        rs = sorted((r for r in rows if int(r["levels"]) == levels), key=lambda r: int(r["adc_bits"]))
        color = f"C{i}"
        bits = [int(r["adc_bits"]) for r in rs]
        ax.plot(
            bits,
            [100 * float(r["accuracy_circuit"]) for r in rs],
            "o-",
            color=color,
            label=f"{levels} levels",
        )
        ref = 100 * float(rs[0]["accuracy_unconverted"])
        ax.axhline(ref, color=color, ls="--", lw=0.9, label=f"{levels} levels, no ADC ({ref:.2f} %)")
        ax.axhspan(ref - TOLERANCE, ref + TOLERANCE, color=color, alpha=0.12, lw=0)
    ax.set_xlabel("ADC bits (per sensed column, auto range)")
    ax.set_ylabel("circuit accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x, y = load_binary("mnist", "train", data_dir=args.data_dir, limit=args.train_limit)
    xt, yt = load_binary("mnist", "test", data_dir=args.data_dir, limit=args.test_limit)
    x_cal = x[: args.cal_images]  # training images only: the test set never sets an ADC range
    path = Path(args.cache) / f"mnist_mlp{args.hidden}_e{args.epochs}_s{args.seed}_n{x.shape[0]}.keras"
    model, _ = km.load_or_train(
        path,
        km.ArchSpec("mlp", hidden=args.hidden, layers=1),
        x,
        y,
        epochs=args.epochs,
        seed=args.seed,
        dataset="mnist",
    )
    ops = km.extract(model)
    acc_float = accuracy(km.forward(ops, xt, logits=True), yt)
    rows: list[dict] = []
    t_start = time.perf_counter()
    print(f"{'levels':>6} {'ADC bits':>8} {'circuit':>8} {'no ADC':>8} {'gap pts':>8}")
    for levels in args.levels:
        base = InferenceConfig(
            method=args.method,
            levels=levels,
            tile=args.tile,
            cell="1t1r",
            r_wire=args.r_wire,
            backend="native",
            backend_options={"mos": "linear"},
            calibration=args.calibration,
        )
        _, _, mapped = build_circuit(ops, base)
        solver = TileSolver("native", backend_options={"mos": "linear"})  # one solver: transfer matrices kept
        acc_q = accuracy(model_forward(mapped, xt), yt)
        if args.calibration != "none":
            mapped = calibrate(mapped, solver, args.calibration, x_cal)
        acc_ref = accuracy(model_forward(mapped, xt, solver), yt)
        for bits in args.bits:
            cfg = replace(base, adc_bits=bits, dac_bits=args.dac_bits)
            acc = accuracy(model_forward(apply_converters(mapped, solver, cfg, x_cal), xt, solver), yt)
            gap = 100 * (acc_ref - acc)
            rows.append(
                {
                    "levels": levels,
                    "adc_bits": bits,
                    "dac_bits": args.dac_bits or "",
                    "method": args.method,
                    "calibration": args.calibration,
                    "tile": args.tile,
                    "r_wire": args.r_wire,
                    "epochs": args.epochs,
                    "n_test": int(xt.shape[0]),
                    "n_cal": int(x_cal.shape[0]),
                    "accuracy_float": acc_float,
                    "accuracy_quantized": acc_q,
                    "accuracy_unconverted": acc_ref,
                    "accuracy_circuit": acc,
                    "gap_points": round(gap, 4),
                }
            )
            print(f"{levels:>6} {bits:>8} {acc:>8.4f} {acc_ref:>8.4f} {gap:>+8.2f}", flush=True)
    with open(out / "romero_adc_bits.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    for levels in args.levels:
        rs = [r for r in rows if r["levels"] == levels]
        b = enough_bits(rs)
        print(
            f"{levels} levels (float {acc_float:.4f}, quantized {rs[0]['accuracy_quantized']:.4f}, "
            f"circuit without ADC {rs[0]['accuracy_unconverted']:.4f}): within {TOLERANCE} points of it from "
            + (f"{b} ADC bits on" if b is not None else f"no tested bit count (tried {args.bits})")
        )
    plot(
        rows,
        out / "romero_adc_bits.png",
        f"784-{args.hidden}-10 MLP ({args.epochs} epochs, {args.method}), {args.tile}x{args.tile} 1T1R "
        f"tiles, {args.r_wire:g} ohm wires\n{xt.shape[0]} test images, ADC ranges from "
        f"{x_cal.shape[0]} training images" + (f", DAC {args.dac_bits} bits" if args.dac_bits else ""),
    )
    print(f"{len(rows)} runs in {time.perf_counter() - t_start:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
