"""Benchmark: the full 10,000-image MNIST test set through a quantized 784-128-10 MLP on 1T1R tiles.

Goal (issue 5): <= 30 s on 2 cores for the native backend, including quantization, mapping and
solver setup, with 128 x 128 1T1R tiles and 1 ohm wire segments; printed beside the time of the
same pipeline with the ideal product. Done criterion: circuit accuracy within 1 point of the
quantized accuracy at 8 levels.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python bench/mnist_circuit.py --data-dir /work/shared/data

The model is trained once on the full MNIST training set (``--epochs``, default 3) and cached in
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


def get_model(out_dir: Path, data_dir: str | None, epochs: int, seed: int) -> tuple[Path, dict]:
    path = out_dir / f"mnist_mlp128_e{epochs}_s{seed}.keras"
    if not path.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        x, y = load_binary("mnist", "train", data_dir=data_dir)
        res = km.train(km.ArchSpec("mlp", hidden=128, layers=1), x, y, epochs=epochs, seed=seed)
        res.extra["dataset"] = "mnist"
        km.save(res, path)
        print(f"trained 784-128-10 for {epochs} epochs in {res.seconds:.1f} s -> {path}")
    return path, km.load_record(path) or {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("XBARSIM_DATA", "/work/shared/data"))
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "out"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--method", default="quantile", choices=("quantile", "weight-range"))
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--r-wire", type=float, default=1.0)
    ap.add_argument("--cell", default="1t1r", choices=("1t1r", "resistor"))
    ap.add_argument("--backend", default="native")
    ap.add_argument("--mos", default="linear")
    ap.add_argument("--limit", type=int, default=None, help="test images (default all 10,000)")
    ap.add_argument("--json", help="write both results as JSON")
    args = ap.parse_args(argv)

    path, record = get_model(Path(args.out_dir), args.data_dir, args.epochs, args.seed)
    ops = km.extract(km.load_model(path))
    x, y = load_binary("mnist", "test", data_dir=args.data_dir, limit=args.limit)
    common = {"method": args.method, "levels": args.levels, "tile": args.tile, "cell": args.cell, "r_wire": args.r_wire,
              "batch": int(x.shape[0])}
    opts = {"mos": args.mos} if args.backend == "native" else {}
    t0 = time.perf_counter()
    circ = evaluate(ops, x, y, InferenceConfig(backend=args.backend, backend_options=opts, **common))
    t_circ = time.perf_counter() - t0
    cal = {}
    x_cal, _ = load_binary("mnist", "train", data_dir=args.data_dir, limit=1000)
    for how in ("uniform", "data"):
        cal[how] = evaluate(ops, x, y, InferenceConfig(backend=args.backend, backend_options=opts, calibration=how,
                                                       **common), x_cal=x_cal)
    t0 = time.perf_counter()
    ideal = evaluate(ops, x, y, InferenceConfig(backend="ideal", **common))
    t_ideal = time.perf_counter() - t0

    print(f"model {path.name} (trained {record.get('epochs', '?')} epochs, {record.get('seconds', float('nan')):.0f} s)")
    print(format_report(circ))
    pipe_c = circ["seconds_map"] + circ["seconds_circuit"]
    pipe_i = ideal["seconds_map"] + ideal["seconds_circuit"]
    print()
    print(f"{'pipeline (quantize+map+solve, ' + str(x.shape[0]) + ' images)':<52}{'seconds':>10}")
    print(f"{'  ' + args.backend + ' backend, ' + args.cell + ', r_wire ' + format(args.r_wire, 'g') + ' ohm':<52}{pipe_c:>10.2f}")
    print(f"{'  ideal backend (same tiles)':<52}{pipe_i:>10.2f}")
    print(f"{'  ideal product, no tiles (quantized network)':<52}{circ['seconds_quantized']:>10.2f}")
    print(f"{'  whole evaluate() incl. float reference, ' + args.backend:<52}{t_circ:>10.2f}")
    print(f"{'  whole evaluate() incl. float reference, ideal':<52}{t_ideal:>10.2f}")
    gap = 100 * (circ["accuracy_quantized"] - circ["accuracy_circuit"])
    print(f"goal <= 30 s: {'met' if pipe_c <= 30 else 'NOT met'} ({pipe_c:.1f} s);  "
          f"circuit vs quantized accuracy: {gap:+.2f} points ({'within' if abs(gap) <= 1 else 'NOT within'} 1 point)")
    for how, r in cal.items():
        g = 100 * (r["accuracy_quantized"] - r["accuracy_circuit"])
        errs = ", ".join(f"{e['layer']} rms {e['rms_relative']:.3f}" for e in r["layer_errors"])
        print(f"with per-column gain calibration '{how}': circuit {r['accuracy_circuit']:.4f} ({g:+.2f} points), "
              f"{errs}, pipeline {r['seconds_map'] + r['seconds_circuit']:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"circuit": circ, "ideal": ideal, "calibrated": cal}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
