"""Kim 2024 Fig. 4a: weight range against the minimal number of levels, many models trained together.

python examples/kim2024_fig4a.py [--grid 5] [--seeds 60] [--models 100] [--out kim2024_fig4a.png] [--quick]
The full size (6000 models) takes a few minutes; --quick trains 3 x 10 models for 100 epochs.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, choices=(5, 7), default=5)
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--out", default="kim2024_fig4a.png")
    ap.add_argument("--quick", action="store_true", help="tiny study (smoke test)")
    args = ap.parse_args(argv)

    from xbarsim.experiments.kim2024 import TrainSettings, run_study
    from xbarsim.experiments.kim2024_plots import plot_range_vs_q

    seeds, models, epochs = (3, 10, 100) if args.quick else (args.seeds, args.models, args.epochs)
    study = run_study(args.grid, n_seeds=seeds, models_per_seed=models, settings=TrainSettings(epochs=epochs))
    print(study.summary())
    print(f"wrote {plot_range_vs_q(study, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
