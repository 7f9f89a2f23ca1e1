"""Plot the per-level read-current CDFs of a level distribution next to draws from it.

    python examples/montecarlo_levels.py --preset hfo2-1t1r-5 --out levels5.png
    python examples/montecarlo_levels.py --preset my_measurements.csv --draws 5000

Prints the overlap report (gap or overlap of adjacent levels, best-threshold read error) and
draws the empirical CDF of each level (the source data) with the CDF of ``--draws`` inverse-
transform samples on top, so one can see that sampling follows the data.
"""

from __future__ import annotations

import argparse

import numpy as np

from xbarsim.variability import preset_distribution, sample_conductances


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="hfo2-1t1r-8", help="preset name or CSV path (default hfo2-1t1r-8)")
    ap.add_argument("--draws", type=int, default=2000, help="samples per level (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="levels.png", help="figure file (default levels.png)")
    args = ap.parse_args(argv)

    dist = preset_distribution(args.preset)
    print(dist.describe())
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    rng = np.random.default_rng(args.seed)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for k in range(dist.n_levels):
        src = np.sort(dist.samples(k)) * 1e6
        drawn = np.sort(sample_conductances(dist, np.full(args.draws, k), rng) * dist.v_read * 1e6)
        line = ax.step(src, np.arange(1, src.size + 1) / src.size, where="post", lw=1.5)[0]
        ax.plot(drawn, np.arange(1, drawn.size + 1) / drawn.size, ls="--", lw=1, color=line.get_color())
    ax.set_xlabel(f"read current at {dist.v_read:g} V (uA)")
    ax.set_ylabel("cumulative probability")
    tag = " (ILLUSTRATIVE data)" if dist.illustrative else ""
    ax.set_title(f"{dist.name}{tag}: source (solid) vs {args.draws} draws (dashed)", fontsize="medium")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"figure written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
