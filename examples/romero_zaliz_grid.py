"""Romero-Zaliz et al. 2021 grid: MLPs and CNNs x quantization levels on MNIST and Fashion-MNIST.

Trains every network of the grid (MLP depth x width; CNN conv layers x filters x pooling x width),
quantizes each at k = 2..8 levels (quantile bins per layer, biases as a cell row) and writes

* ``results.csv``: one row per (dataset, network, levels) with float and quantized accuracy
  (and circuit accuracy with ``--circuit``);
* ``fig5_synapses.png``, ``fig8-13_<dataset>.png`` (accuracy vs hidden units per level),
  ``fig14_mlp_vs_cnn.png`` (mean +- sd, MLP vs CNN);
* ``kruskal.json``: Kruskal-Wallis MLP vs CNN per dataset (paper: p = 1.02e-5 MNIST, 0.147 Fashion).

The defaults are the paper's full grid at 30 epochs (hours on a laptop). Shorten with ``--epochs``,
the ``--mlp-*``/``--cnn-*`` lists and ``--train-limit``; ``--quick`` is a tiny smoke run.
Trained models are cached in ``<out>/models`` and reused.

Run from the repository root, e.g.::

    PYTHONPATH=. .venv/bin/python examples/romero_zaliz_grid.py --data-dir /work/shared/data --epochs 1 \\
        --mlp-layers 1,2 --mlp-hidden 16,64,128 --cnn-conv 1,2 --cnn-filters 8,16 --cnn-pool 2,4 \\
        --cnn-hidden 16,64
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from xbarsim.analysis import accuracy
from xbarsim.datasets.idx import load_binary
from xbarsim.errors import InputError
from xbarsim.experiments import romero_plots as plots
from xbarsim.experiments.romero_zaliz2021 import InferenceConfig, evaluate, kruskal_mlp_cnn, sweep_levels
from xbarsim.nn import keras_models as km

log = logging.getLogger("romero_zaliz_grid")

#: The paper's claims, printed next to ours.
PAPER_P = {"mnist": 1.02e-5, "fashion-mnist": 0.147}
FIELDS = [
    "dataset",
    "method",
    "arch",
    "label",
    "layers",
    "conv",
    "filters",
    "pool",
    "hidden",
    "n_synapses",
    "epochs",
    "seed",
    "n_train",
    "n_test",
    "levels",
    "accuracy_float",
    "accuracy_quantized",
    "accuracy_circuit",
    "train_seconds",
]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def grid(args: argparse.Namespace) -> list[km.ArchSpec]:
    """The networks asked for; CNNs whose pooling does not fit are skipped with a log line."""
    specs = [km.ArchSpec("mlp", hidden=h, layers=n) for n in args.mlp_layers for h in args.mlp_hidden]
    for c in args.cnn_conv:
        for f in args.cnn_filters:
            for p in args.cnn_pool:
                for h in args.cnn_hidden:
                    try:
                        specs.append(km.ArchSpec("cnn", hidden=h, conv=c, filters=f, pool=p))
                    except InputError as exc:
                        log.info("skipping CNN conv=%d pool=%d: %s", c, p, exc)
    return specs


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="IDX folder (default $XBARSIM_DATA, then the Keras cache)")
    ap.add_argument("--out", default="examples/out/romero_grid", help="output folder")
    ap.add_argument("--datasets", default="mnist,fashion-mnist")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", type=_ints, default=list(range(2, 9)))
    ap.add_argument(
        "--method",
        default="quantile",
        choices=("quantile", "weight-range", "lloyd"),
        help="quantization method (default quantile, the paper's)",
    )
    ap.add_argument("--mlp-layers", type=_ints, default=[1, 2, 3, 4])
    ap.add_argument("--mlp-hidden", type=_ints, default=[8, 16, 32, 64, 128])
    ap.add_argument("--cnn-conv", type=_ints, default=[1, 2, 3])
    ap.add_argument("--cnn-filters", type=_ints, default=[8, 16, 32])
    ap.add_argument("--cnn-pool", type=_ints, default=[2, 3, 4, 5, 6, 7, 8])
    ap.add_argument("--cnn-hidden", type=_ints, default=[8, 16, 32, 64, 128])
    ap.add_argument("--train-limit", type=int, help="first N training images only")
    ap.add_argument("--test-limit", type=int, help="first N test images only")
    ap.add_argument(
        "--circuit", action="store_true", help="also run every level through 1T1R tiles (native backend)"
    )
    ap.add_argument(
        "--circuit-limit", type=int, default=1000, help="test images for --circuit (default 1000)"
    )
    ap.add_argument("--r-wire", type=float, default=1.0, help="wire segment ohms for --circuit (default 1)")
    ap.add_argument(
        "--cached-only",
        action="store_true",
        help="skip networks whose trained model is not in <out>/models yet (report what exists)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="tiny smoke run (2 MLPs + 2 CNNs, 1 epoch, levels 2,4,8)"
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs = 1
        args.levels = [2, 4, 8]
        args.mlp_layers, args.mlp_hidden = [1], [8, 16]
        args.cnn_conv, args.cnn_filters, args.cnn_pool, args.cnn_hidden = [1], [8], [4], [8, 16]
        args.circuit_limit = min(args.circuit_limit, 50)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    specs = grid(args)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    rows: list[dict] = []
    t_start = time.perf_counter()
    for ds in datasets:
        x, y = load_binary(ds, "train", data_dir=args.data_dir, limit=args.train_limit)
        xt, yt = load_binary(ds, "test", data_dir=args.data_dir, limit=args.test_limit)
        for spec in specs:
            tag = f"{ds}_{spec.label}_e{args.epochs}_s{args.seed}_n{x.shape[0]}"
            path = out / "models" / f"{tag}.keras"
            if args.cached_only and not path.is_file():
                continue
            model, record = km.load_or_train(path, spec, x, y, epochs=args.epochs, seed=args.seed, dataset=ds)
            ops = km.extract(model)
            acc_float = accuracy(km.forward(ops, xt, logits=True), yt)
            accs = sweep_levels(ops, xt, yt, args.levels, method=args.method)
            for k, acc in accs.items():
                row = {
                    "dataset": ds,
                    "method": args.method,
                    "arch": spec.arch,
                    "label": spec.label,
                    "layers": spec.layers if spec.arch == "mlp" else 1,
                    "conv": spec.conv if spec.arch == "cnn" else 0,
                    "filters": spec.filters if spec.arch == "cnn" else 0,
                    "pool": spec.pool if spec.arch == "cnn" else 0,
                    "hidden": spec.hidden,
                    "n_synapses": km.n_synapses(ops),
                    "epochs": args.epochs,
                    "seed": args.seed,
                    "n_train": int(x.shape[0]),
                    "n_test": int(xt.shape[0]),
                    "levels": k,
                    "accuracy_float": acc_float,
                    "accuracy_quantized": acc,
                    "accuracy_circuit": "",
                    "train_seconds": round(float(record.get("seconds", 0.0)), 2),
                }
                if args.circuit:
                    n = min(args.circuit_limit, xt.shape[0])
                    cfg = InferenceConfig(
                        method=args.method,
                        levels=k,
                        cell="1t1r",
                        r_wire=args.r_wire,
                        backend="native",
                        backend_options={"mos": "linear"},
                    )
                    row["accuracy_circuit"] = evaluate(ops, xt[:n], yt[:n], cfg)["accuracy_circuit"]
                rows.append(row)
            print(
                f"{ds:<14} {spec.label:<22} float {acc_float:.4f}  "
                + "  ".join(f"k{k} {a:.3f}" for k, a in accs.items()),
                flush=True,
            )

    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    plots.plot_synapses(rows, out / "fig5_synapses.png")
    for ds in datasets:
        plots.plot_accuracy_vs_hidden(rows, ds, out / f"fig8-13_{ds}.png")
    plots.plot_mlp_vs_cnn(rows, out / "fig14_mlp_vs_cnn.png")

    stats = {}
    for ds in datasets:
        g = plots.mlp_cnn_by_level(rows, ds)
        mlp = [a for v in g["mlp"].values() for a in v]
        cnn = [a for v in g["cnn"].values() for a in v]
        entry: dict = {"paper_p": PAPER_P.get(ds)}
        if len(mlp) >= 2 and len(cnn) >= 2:
            entry.update(kruskal_mlp_cnn(mlp, cnn))
            entry["mean_mlp"], entry["mean_cnn"] = float(np.mean(mlp)), float(np.mean(cnn))
            entry["per_level"] = {
                int(k): kruskal_mlp_cnn(g["mlp"][k], g["cnn"][k])["p"]
                for k in sorted(g["mlp"])
                if len(g["mlp"][k]) >= 2 and len(g["cnn"].get(k, [])) >= 2
            }
        stats[ds] = entry
        if "p" in entry:
            print(
                f"Kruskal-Wallis MLP vs CNN on {ds}: H = {entry['H']:.3f}, p = {entry['p']:.3g} "
                f"(paper {entry['paper_p']}); mean accuracy MLP {entry['mean_mlp']:.4f}, "
                f"CNN {entry['mean_cnn']:.4f}"
            )
    (out / "kruskal.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(
        f"{len(rows)} rows, {len(specs)} networks x {len(datasets)} datasets "
        f"in {time.perf_counter() - t_start:.0f} s -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
