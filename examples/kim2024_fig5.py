"""Kim 2024 Fig. 5: recognition at q = 4 against epoch for five seed groups of increasing weight range.

python examples/kim2024_fig5.py [--grid 5] [--seeds 60] [--models 100] [--q 4] [--out kim2024_fig5.png]
    [--quick]
Groups A-E are the seeds at evenly spaced ranks of their models' mean weight range.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, choices=(5, 7), default=5)
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--q", type=int, default=4)
    ap.add_argument("--out", default="kim2024_fig5.png")
    ap.add_argument("--quick", action="store_true", help="tiny study (smoke test)")
    args = ap.parse_args(argv)

    from xbarsim.experiments.kim2024 import TrainSettings, run_study
    from xbarsim.experiments.kim2024_plots import plot_groups_vs_epoch

    seeds, models, epochs = (5, 4, 60) if args.quick else (args.seeds, args.models, args.epochs)
    study = run_study(
        args.grid,
        n_seeds=seeds,
        models_per_seed=models,
        settings=TrainSettings(epochs=epochs),
        track_q=args.q,
    )
    for label, seed, wr, curve in study.seed_groups(5):
        print(
            f"group {label}: seed {seed}, mean weight range {wr:.2f}, "
            f"final recognition at q={args.q}: {100 * curve[-1]:.1f} %"
        )
    print(f"wrote {plot_groups_vs_epoch(study, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
