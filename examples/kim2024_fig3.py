"""Kim 2024 Fig. 3: trained weights and the weight-range quantization levels of one net.

python examples/kim2024_fig3.py [--grid 5] [--seed 0] [--out kim2024_fig3.png] [--quick]
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, choices=(5, 7), default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="kim2024_fig3.png")
    ap.add_argument("--quick", action="store_true", help="fewer epochs (smoke test)")
    args = ap.parse_args(argv)

    from xbarsim.experiments.kim2024 import TrainSettings, train_and_quantize
    from xbarsim.experiments.kim2024_plots import plot_levels

    res, _ = train_and_quantize(
        args.grid, args.seed, settings=TrainSettings(epochs=150 if args.quick else 500)
    )
    print(f"q = {res['q']}, levels {[round(v, 3) for v in res['levels']]}, counts {res['level_counts']}")
    print(f"wrote {plot_levels(res, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
