"""``xbarsim train`` and ``xbarsim infer``: Romero-Zaliz 2021 networks, trained and run on crossbars."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..backends import REGISTRY
from ..io import atomic_path, check_output_path
from . import picked

log = logging.getLogger(__name__)


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", default="mnist", choices=("mnist", "fashion-mnist"), help="dataset (default mnist)"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder with the IDX files (default: $XBARSIM_DATA, then ~/.keras/datasets)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="use only the first N images")


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train", help="train a Romero-Zaliz 2021 MLP or CNN on binarized MNIST / Fashion-MNIST"
    )
    t.add_argument("--arch", choices=("mlp", "cnn"), default="mlp", help="network kind (default mlp)")
    t.add_argument(
        "--hidden",
        type=int,
        default=128,
        metavar="UNITS",
        help="units per hidden dense layer, 8-128 (default 128)",
    )
    t.add_argument("--layers", type=int, default=1, metavar="N", help="MLP hidden layers, 1-4 (default 1)")
    t.add_argument("--conv", type=int, default=1, metavar="N", help="CNN conv+pool blocks, 1-3 (default 1)")
    t.add_argument(
        "--filters", type=int, default=16, choices=(8, 16, 32), help="CNN filters per conv layer (default 16)"
    )
    t.add_argument("--pool", type=int, default=2, metavar="P", help="CNN pooling P x P, 2-8 (default 2)")
    t.add_argument(
        "--epochs", type=int, default=30, metavar="N", help="training epochs (default 30, the paper's)"
    )
    t.add_argument("--seed", type=int, default=0, help="random seed (process-global inside Keras; default 0)")
    _data_options(t)
    t.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="FILE.keras",
        help="model file; its training record goes to FILE.history.json",
    )
    t.set_defaults(func=run_train)

    i = sub.add_parser(
        "infer", help="quantize a trained model, map it on crossbar tiles and measure accuracy"
    )
    i.add_argument(
        "--model", "-m", required=True, metavar="FILE.keras", help="model written by 'xbarsim train'"
    )
    _data_options(i)
    i.add_argument(
        "--method",
        choices=("quantile", "weight-range", "lloyd", "none"),
        default="quantile",
        help="quantization: quantile (the paper's, default), weight-range (Kim 2024), "
        "lloyd (Lloyd-Max per layer) or none",
    )
    i.add_argument("--levels", type=int, default=8, metavar="K", help="quantization levels k (default 8)")
    i.add_argument(
        "--bias",
        choices=("quantized", "float"),
        default="quantized",
        help="quantize biases with the weights (default) or keep them float",
    )
    i.add_argument("--table", metavar="NAME", help="device level table preset (default hfo2-1t1r-K)")
    i.add_argument(
        "--scheme",
        choices=("differential", "offset"),
        default="differential",
        help="signed weights as column pairs (default) or an offset column",
    )
    i.add_argument("--tile", type=int, default=128, metavar="T", help="largest array side (default 128)")
    i.add_argument("--cell", choices=("1t1r", "resistor"), default="1t1r", help="cell kind (default 1t1r)")
    i.add_argument(
        "--r-wire", type=float, default=0.0, metavar="OHM", help="wire segment resistance (default 0)"
    )
    i.add_argument(
        "--backend", choices=tuple(REGISTRY), default="native", help="circuit backend (default native)"
    )
    i.add_argument(
        "--mos",
        choices=("linear", "level1"),
        default="linear",
        help="native backend's 1T1R transistor: linear channel conductance (fast) or the ngspice MOS1 "
        "equations (exact; ~45 ms per MNIST image on 16 tiles of 128x128)",
    )
    i.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="ngspice time limit per run (default 600)"
    )
    i.add_argument(
        "--calibrate",
        choices=("none", "uniform", "data"),
        default="none",
        help="per-column digital gain trim: none (default), uniform (one all-v_read read per tile) "
        "or data (each differential pair's two gains fitted by least squares to the ideal difference on "
        "--cal-images training images)",
    )
    i.add_argument(
        "--cal-images",
        type=int,
        default=500,
        metavar="N",
        help="training images for --calibrate data and --adc-range auto (default 500)",
    )
    i.add_argument(
        "--adc-bits",
        type=int,
        metavar="B",
        help="ADC of B bits (1-24) on every sensed tile column (raw column current, before the pair "
        "difference and the partial-sum addition); default: no ADC",
    )
    i.add_argument(
        "--adc-range",
        default="auto",
        metavar="auto|AMPS",
        help="ADC full scale: auto (default: per column, the largest current on --cal-images training "
        "images through the same circuit) or a current in amperes for every column",
    )
    i.add_argument(
        "--dac-bits",
        type=int,
        metavar="B",
        help="DAC of B bits (1-24) on every layer's read voltages over [0, v_read] (binary pixels stay "
        "exact); default: exact voltages",
    )
    i.add_argument("--batch", type=int, default=1000, metavar="N", help="images per batch (default 1000)")
    i.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    i.set_defaults(func=run_infer)


def _check_data(args: argparse.Namespace, *splits: str) -> None:
    """The dataset files exist and --limit is sane (before TensorFlow is loaded)."""
    from .._validate import check_int
    from ..datasets.idx import locate

    if args.limit is not None:
        check_int(args.limit, "--limit", minimum=1)
    for split in splits:
        locate(args.dataset, split, args.data_dir)  # type: ignore[arg-type]


def run_train(args: argparse.Namespace) -> int:
    from .._validate import check_int
    from ..datasets.idx import load_binary
    from ..errors import InputError
    from ..nn import keras_models as km

    out = check_output_path(args.out, "--out")
    if out.suffix != ".keras":
        raise InputError(f"--out must end in .keras, got {args.out!r}")
    check_int(args.epochs, "--epochs", minimum=1)
    check_int(args.seed, "--seed", minimum=0)
    spec = km.ArchSpec(**picked(args, "arch", "hidden", "layers", "conv", "filters", "pool"))
    _check_data(args, "train", "test")
    x, y = load_binary(args.dataset, "train", data_dir=args.data_dir, limit=args.limit)
    xt, yt = load_binary(args.dataset, "test", data_dir=args.data_dir)
    res = km.train(spec, x, y, epochs=args.epochs, seed=args.seed, verbose=2 if args.verbose else 0)
    acc = float((km.forward(km.extract(res.model), xt).argmax(1) == yt).mean())
    res.extra.update(
        {
            "dataset": args.dataset,
            "n_train": int(x.shape[0]),
            "test_accuracy": acc,
            "n_test": int(xt.shape[0]),
        }
    )
    km.save(res, out)
    h = res.history
    print(
        f"{spec.label}: {args.epochs} epochs on {x.shape[0]} {args.dataset} images in {res.seconds:.1f} s; "
        f"train acc {h['accuracy'][-1]:.4f}, val acc {h.get('val_accuracy', [float('nan')])[-1]:.4f}, "
        f"test acc {acc:.4f} ({xt.shape[0]} images)"
    )
    print(f"saved {out} and {km.history_path(out)}")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    from .._validate import check_int, check_real
    from ..datasets.idx import check_fits, load_binary
    from ..errors import InputError
    from ..experiments.romero_zaliz2021 import InferenceConfig, evaluate, format_report
    from ..nn import keras_models as km

    # every argument is checked here, before TensorFlow is loaded and the long run starts
    if check_int(args.levels, "--levels") < 2:
        raise InputError(f"--levels must be >= 2, got {args.levels}")
    check_int(args.tile, "--tile", minimum=2)
    check_int(args.batch, "--batch", minimum=1)
    check_int(args.cal_images, "--cal-images", minimum=1)
    check_real(args.r_wire, "--r-wire", nonneg=True)
    check_real(args.timeout, "--timeout", positive=True)
    from ..mapping.converters import parse_adc_range
    from ..periphery import MAX_BITS

    for flag, bits in (("--adc-bits", args.adc_bits), ("--dac-bits", args.dac_bits)):
        if bits is not None:
            check_int(bits, flag, minimum=1, maximum=MAX_BITS)
    adc_fs = parse_adc_range(args.adc_range, "--adc-range")
    if args.adc_bits is None and args.adc_range != "auto":
        raise InputError("--adc-range needs --adc-bits")
    need_train = args.calibrate == "data" or (args.adc_bits is not None and adc_fs is None)
    opts: dict = {"mos": args.mos} if args.backend == "native" else {}
    if args.backend == "ngspice":
        opts["timeout"] = args.timeout
    config = InferenceConfig(
        backend_options=opts,
        calibration=args.calibrate,
        adc_range="auto" if adc_fs is None else adc_fs,
        **picked(args, "method", "levels", "bias", "table", "scheme", "tile", "cell", "r_wire", "backend"),
        **picked(args, "batch", "adc_bits", "dac_bits"),
    )
    config.level_table()  # fail early on an unknown table
    model_path = Path(args.model)
    if not model_path.is_file():
        raise InputError(f"model file not found: {model_path}")
    if model_path.suffix != ".keras":
        raise InputError(f"--model must be a .keras file written by 'xbarsim train', got {args.model!r}")
    if args.json:
        check_output_path(args.json, "--json")
    _check_data(args, "test", *(("train",) if need_train else ()))
    from ..sweep.experiments import check_backend

    check_backend(args.backend)  # ngspice / libngspice present before the long run
    model = km.load_model(args.model)
    ops = km.extract(model)
    x, y = load_binary(args.dataset, "test", data_dir=args.data_dir, limit=args.limit)
    check_fits(
        tuple(int(d) for d in model.input_shape[1:]),
        int(model.output_shape[-1]),
        x,
        y,
        f"model {args.model}",
        args.dataset,
    )
    x_cal = None
    if need_train:
        x_cal, _ = load_binary(args.dataset, "train", data_dir=args.data_dir, limit=args.cal_images)
    result = evaluate(ops, x, y, config, x_cal=x_cal)
    result["model"] = str(args.model)
    result["dataset"] = args.dataset
    print(f"{args.model} on {args.dataset} test set")
    print(format_report(result))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
