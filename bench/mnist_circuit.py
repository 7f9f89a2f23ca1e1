"""Benchmark: the full 10,000-image MNIST test set through a quantized 784-128-10 MLP on 1T1R tiles.

Goal (issue 5): <= 30 s on 2 cores for the native backend, including quantization, mapping and
solver setup, with 128 x 128 1T1R tiles and 1 ohm wire segments; printed beside the time of the
same pipeline with the ideal product. Done criterion: circuit accuracy within 1 point of the
quantized accuracy at 8 levels.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python bench/mnist_circuit.py --data-dir /work/shared/data

Issue 12: ``--mos level1`` runs the real MOS1 transistor (chord iteration of the native solver);
goal <= 60 s for the 10,000 images (first milestone <= 10 minutes). ``--compare-newton N`` also
runs the first N images with today's full Newton (``method="newton"``) and prints the time ratio
and both accuracies side by side.

The model is trained once on the full MNIST training set (``--epochs``, default 10) and cached in
``--out-dir`` (default ``bench/out``, not committed); delete it to retrain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from xbarsim.datasets.idx import load_binary
from xbarsim.experiments.romero_zaliz2021 import InferenceConfig, evaluate, format_report
from xbarsim.nn import keras_models as km


def get_model(out_dir: Path, data_dir: str | None, epochs: int, seed: int) -> tuple[Path, list, dict]:
    """The cached 784-128-10 model (trained on full MNIST on first use): path, ops, training record."""
    path = out_dir / f"mnist_mlp128_e{epochs}_s{seed}.keras"
    x, y = load_binary("mnist", "train", data_dir=data_dir)
    model, record = km.load_or_train(
        path, km.ArchSpec("mlp", hidden=128, layers=1), x, y, epochs=epochs, seed=seed, dataset="mnist"
    )
    return path, km.extract(model), record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("XBARSIM_DATA", "/work/shared/data"))
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--method", default="quantile", choices=("quantile", "weight-range", "lloyd"))
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--r-wire", type=float, default=1.0)
    ap.add_argument("--cell", default="1t1r", choices=("1t1r", "resistor"))
    ap.add_argument("--backend", default="native")
    ap.add_argument("--mos", default="linear")
    ap.add_argument("--limit", type=int, default=None, help="test images (default all 10,000)")
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument(
        "--compare-newton",
        type=int,
        default=0,
        metavar="N",
        help="also run the first N images with the full Newton (method='newton') and print the ratio",
    )
    ap.add_argument(
        "--no-variants",
        action="store_true",
        help="skip the table of quantization methods x per-column gain calibrations",
    )
    args = ap.parse_args(argv)

    path, ops, record = get_model(Path(args.out_dir), args.data_dir, args.epochs, args.seed)
    x, y = load_binary("mnist", "test", data_dir=args.data_dir, limit=args.limit)
    common = {
        "method": args.method,
        "levels": args.levels,
        "tile": args.tile,
        "cell": args.cell,
        "r_wire": args.r_wire,
        "batch": int(x.shape[0]),
    }
    opts = {"mos": args.mos} if args.backend == "native" else {}
    t0, c0 = time.perf_counter(), time.process_time()
    circ = evaluate(ops, x, y, InferenceConfig(backend=args.backend, backend_options=opts, **common))
    t_circ, cpu_circ = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    ideal = evaluate(ops, x, y, InferenceConfig(backend="ideal", **common))
    t_ideal, cpu_ideal = time.perf_counter() - t0, time.process_time() - c0

    print(
        f"model {path.name} (trained {record.get('epochs', '?')} epochs, "
        f"{record.get('seconds', float('nan')):.0f} s)"
    )
    print(format_report(circ))
    pipe_c = circ["seconds_map"] + circ["seconds_circuit"]
    pipe_i = ideal["seconds_map"] + ideal["seconds_circuit"]
    print()
    print(f"{'pipeline (quantize+map+solve, ' + str(x.shape[0]) + ' images)':<56}{'wall s':>9}")
    print(f"{f'  {args.backend} backend, {args.cell}, r_wire {args.r_wire:g} ohm':<56}{pipe_c:>9.2f}")
    print(f"{'  ideal backend (same tiles)':<56}{pipe_i:>9.2f}")
    print(f"{'  ideal product, no tiles (quantized network)':<56}{circ['seconds_quantized']:>9.2f}")
    print(
        f"{'  whole evaluate() incl. float reference, ' + args.backend:<56}{t_circ:>9.2f}"
        f"  (CPU {cpu_circ:.1f} s)"
    )
    print(f"{'  whole evaluate() incl. float reference, ideal':<56}{t_ideal:>9.2f}  (CPU {cpu_ideal:.1f} s)")
    with open("/proc/loadavg") if Path("/proc/loadavg").exists() else open(os.devnull) as fh:
        load = fh.read().split()[:1]
    print(f"  (load average during run: {load[0] if load else '?'} on {os.cpu_count()} cores)")
    gap = 100 * (circ["accuracy_quantized"] - circ["accuracy_circuit"])
    print(
        f"goal <= 30 s: {'met' if pipe_c <= 30 else 'NOT met'} ({pipe_c:.1f} s);  "
        f"circuit vs quantized accuracy: {gap:+.2f} points "
        f"({'within' if abs(gap) <= 1 else 'NOT within'} 1 point)"
    )
    if args.compare_newton and args.backend == "native":
        n = min(args.compare_newton, int(x.shape[0]))
        few = {**common, "batch": n}
        timed = {}
        for method in ("chord", "newton"):
            cfg = InferenceConfig(backend="native", backend_options={**opts, "method": method}, **few)
            t0 = time.perf_counter()
            r = evaluate(ops, x[:n], y[:n], cfg)
            timed[method] = (time.perf_counter() - t0, r["accuracy_circuit"])
        (tc, ac), (tn, an) = timed["chord"], timed["newton"]
        print(
            f"first {n} images: chord {tc:.1f} s (accuracy {ac:.4f}), today's Newton {tn:.1f} s "
            f"(accuracy {an:.4f}): Newton / chord = {tn / tc:.1f}x"
        )
    goal = 60.0 if args.mos == "level1" else 30.0
    full = pipe_c * 10_000 / max(1, int(x.shape[0]))
    print(
        f"goal for {args.mos}, 10,000 images <= {goal:.0f} s: {'met' if full <= goal else 'NOT met'} "
        f"({full:.0f} s{'' if x.shape[0] == 10_000 else f', scaled from {x.shape[0]} images'})"
    )
    variants = {}
    if not args.no_variants:
        x_cal, _ = load_binary("mnist", "train", data_dir=args.data_dir, limit=1000)
        print("\nvariants (same model, tiles and wires):")
        print(
            f"  {'method':<13}{'calibration':<12}{'quantized':>10}{'circuit':>9}{'gap pts':>9}"
            "   layer rms errors"
        )
        for method in ("quantile", "weight-range", "lloyd"):
            for how in ("none", "uniform", "data"):
                cfg = InferenceConfig(
                    backend=args.backend,
                    backend_options=opts,
                    calibration=how,
                    **{**common, "method": method},
                )
                r = evaluate(ops, x, y, cfg, x_cal=x_cal)
                variants[f"{method}/{how}"] = r
                g = 100 * (r["accuracy_quantized"] - r["accuracy_circuit"])
                errs = ", ".join(f"{e['rms_relative']:.3f}" for e in r["layer_errors"])
                print(
                    f"  {method:<13}{how:<12}{r['accuracy_quantized']:>10.4f}"
                    f"{r['accuracy_circuit']:>9.4f}{g:>+9.2f}   {errs}"
                )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"circuit": circ, "ideal": ideal, "variants": variants}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
