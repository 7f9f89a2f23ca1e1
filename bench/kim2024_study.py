"""Time the Kim 2024 study: 60 seeds x 100 models trained as batched arrays (goal <= 10 min, 2 cores).

Usage: python bench/kim2024_study.py [--grid 5|7] [--seeds 60] [--models 100] [--epochs 500] [--chunk 1500]
Prints the wall time next to the goal and the study's summary (min q, weight range).
"""

from __future__ import annotations

import argparse
import os
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, choices=(5, 7), default=5)
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=1500, help="models trained together per batch")
    args = ap.parse_args(argv)

    from xbarsim.experiments.kim2024 import TrainSettings, run_study

    t0 = time.perf_counter()
    study = run_study(
        args.grid,
        n_seeds=args.seeds,
        models_per_seed=args.models,
        settings=TrainSettings(epochs=args.epochs),
        chunk=args.chunk,
    )
    wall = time.perf_counter() - t0
    s = study.summary()
    n = study.n_models
    print(f"kim2024 study: grid {args.grid}, {n} models, {args.epochs} epochs, cpu count {os.cpu_count()}")
    print(
        f"  wall time   {wall:8.1f} s   goal for 6000 models: <= 600 s   ({1000 * wall / n:.1f} ms per model)"
    )
    print(f"  float 100 %  {100 * s['perfect_float']:.1f} % of models")
    print(
        f"  min q found  {100 * s['q_found']:.1f} %, median q {s['q_median']}, "
        f"q <= 8 for {100 * s['q_le_8']:.1f} %"
    )
    print(f"  weight range mean {s['weight_range_mean']:.2f}, corr(range, min q) {s['corr_range_q']}")
    for label, seed, wr, curve in study.seed_groups(5):
        print(
            f"  group {label}: seed {seed:3d}, mean range {wr:.2f}, "
            f"recognition at q={study.track_q} after last epoch {100 * curve[-1]:.1f} %"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
