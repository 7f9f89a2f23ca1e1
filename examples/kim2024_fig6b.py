"""Kim 2024 Fig. 6b: current-gap rate of the diode-crossbar circuit at 1, 5 and 10 V input.

python examples/kim2024_fig6b.py [--grid 5] [--seed auto|N] [--backend ngspice] [--voltages 1,5,10]
                                 [--input-offset 0.65] [--offset-inputs active|all]
                                 [--coupling buffered|passive] [--out kim2024_fig6b.png]
                                 [--deck FILE --deck-voltage 1] [--quick]
Defaults follow the paper: +0.65 V on lit pixels, buffered layers, the seed of --seed auto (see the
README). --deck writes the ngspice deck of the same circuit at --deck-voltage (offset sources and
the buffers' B sources included; netlists/kim2024_5x5_1V.cir is made so).
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    from xbarsim.cli.kim import _add_circuit_options, design_from_args, resolve_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, choices=(5, 7), default=5)
    _add_circuit_options(ap)
    ap.add_argument("--backend", default="ngspice")
    ap.add_argument("--voltages", default="1,5,10")
    ap.add_argument("--out", default="kim2024_fig6b.png")
    ap.add_argument("--deck", help="also write the ngspice deck of the circuit at --deck-voltage")
    ap.add_argument("--deck-voltage", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="fewer epochs (smoke test)")
    args = ap.parse_args(argv)

    from xbarsim.cli.kim import format_report, parse_voltages
    from xbarsim.experiments.kim2024 import TrainSettings, run_kim2024
    from xbarsim.experiments.kim2024_plots import plot_current_gap

    volts, labels = parse_voltages(args.voltages)
    settings = TrainSettings(epochs=300 if args.quick else args.epochs)
    design = design_from_args(args)
    seed, how = resolve_seed(args, args.grid, settings.epochs, design, volts)
    res = run_kim2024(
        args.grid,
        seed,
        voltages=volts,
        voltage_labels=labels,
        backend=args.backend,
        settings=settings,
        design=design,
    )
    res["seed_pick"] = how
    print(format_report(res))
    print(f"wrote {plot_current_gap(res, args.out)}")
    if args.deck:
        from pathlib import Path

        from xbarsim.experiments.kim2024 import deck_text

        text = deck_text(args.grid, seed, args.deck_voltage, settings=settings, design=design)
        Path(args.deck).write_text(text)
        print(f"wrote {args.deck}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
