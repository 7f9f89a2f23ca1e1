"""``xbarsim kim2024`` (one seed, full report) and ``xbarsim demo`` (the 5x5 case with figures)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..backends import REGISTRY
from ..errors import InputError
from ..mapping.kim import KIM_SCHEMES

T = TypeVar("T")


def parse_voltages(text: str) -> tuple[list[float], list[str]]:
    """``"1,5,10"`` -> ([1.0, 5.0, 10.0], ["1", "5", "10"]); labels are kept as written."""
    labels = [t.strip() for t in str(text).split(",")]
    if not labels or any(not t for t in labels):
        raise InputError(f"--voltages must be a comma-separated list of volts, got {text!r}")
    values = []
    for t in labels:
        try:
            v = float(t)
        except ValueError:
            raise InputError(f"--voltages: {t!r} is not a number") from None
        if not math.isfinite(v) or not 0 < v <= 100:
            raise InputError(f"--voltages: each input voltage must be > 0 and <= 100 V, got {t}")
        values.append(v)
    if len(set(values)) != len(values):
        raise InputError(f"--voltages lists a voltage twice: {text!r}")
    return values, labels


def _parsed(kind: Callable[[str], T], noun: str, ok: Callable[[T], bool], rule: str) -> Callable[[str], T]:
    """argparse type: convert with ``kind``, then require ``ok(value)`` (messages name the rule)."""

    def parse(text: str) -> T:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{rule}, got {v}")
        return v

    return parse


_positive_int = _parsed(int, "an integer", lambda v: v >= 1, "expected an integer >= 1")
_seed = _parsed(int, "an integer seed", lambda v: v >= 0, "seed must be >= 0")
_offset = _parsed(
    float, "a voltage", lambda v: math.isfinite(v) and 0 <= v <= 10, "input offset must be in [0, 10] V"
)


def _seed_or_auto(text: str) -> int | str:
    """``auto`` or a seed >= 0."""
    return "auto" if str(text).strip().lower() == "auto" else _seed(text)


#: q the automatic seed pick asks for (the paper's net, Section 3.3).
PICK_Q = 4
#: ``xbarsim.experiments.kim2024.SEED_RULES`` (not imported here: the CLI starts without numerics).
SEED_RULES = ("levels", "calc", "model", "calc+model")
DEFAULT_SEED_RULE = "model"


_OFFSET_INPUTS_HELP = "active (default): a dark pixel's driver stays at 0 V; all: every row gets the offset"
_COUPLING_HELP = (
    "layer 1 -> layer 2: buffered (default; ideal buffer, gain calibrated, offset = input offset) "
    "or passive (r_ref voltages drive layer 2 directly)"
)
_MAPPING_HELP = "weight->conductance mapping (default differential; single = the paper's literal shape)"


def _add_circuit_options(p: argparse.ArgumentParser) -> None:
    """The options of the paper's drive and coupling (shared by ``kim2024`` and ``demo``)."""
    p.add_argument(
        "--seed",
        type=_seed_or_auto,
        default="auto",
        help=f"training seed, or auto (default): the first seed from --seed-from whose level search "
        f"reaches --alpha (100 %%) at q <= {PICK_Q}, like the paper's net, and that passes --seed-rule",
    )
    p.add_argument("--seed-from", type=_seed, default=0, help="first seed tried by --seed auto (default 0)")
    p.add_argument(
        "--seed-rule",
        choices=SEED_RULES,
        default=DEFAULT_SEED_RULE,
        help="checks --seed auto makes on the model-calibrated circuit at every voltage, no simulator: "
        "levels (q only), calc (+ the computer calculation recognizes all ten digits), model (default; "
        "q + the closed-form Shockley model recognizes all ten with a largest gap <= 30 %%), calc+model",
    )
    p.add_argument(
        "--input-offset",
        type=_offset,
        default=0.65,
        metavar="VOLT",
        help="volts the drivers add to each lit pixel (default 0.65, the diode threshold, as the paper)",
    )
    p.add_argument("--offset-inputs", choices=("active", "all"), default="active", help=_OFFSET_INPUTS_HELP)
    p.add_argument("--coupling", choices=("passive", "buffered"), default="buffered", help=_COUPLING_HELP)


def resolve_seed(
    args: argparse.Namespace, grid: int, epochs: int, design: Any, voltages: list[float]
) -> tuple[int, str]:
    """The seed to run and how it was chosen (``--seed auto``: level search, then the seed rule's checks)."""
    if args.seed != "auto":
        return int(args.seed), "given"
    from ..experiments.kim2024 import TrainSettings, pick_design_seed

    alpha = getattr(args, "alpha", 1.0)  # the demo has no --alpha: 100 %, as the paper
    rule = args.seed_rule
    seed, q = pick_design_seed(
        grid,
        design,
        voltages,
        rule=rule,
        max_levels=PICK_Q,
        first=args.seed_from,
        alpha=alpha,
        settings=TrainSettings(epochs=epochs),
    )
    return seed, f"auto: first seed from {args.seed_from} with q <= {PICK_Q}, rule {rule} (q = {q})"


def design_from_args(args: argparse.Namespace, mapping: str = "differential") -> Any:
    """The :class:`~xbarsim.experiments.kim2024.CircuitDesign` the options describe."""
    from ..experiments.kim2024 import CircuitDesign

    return CircuitDesign(
        mapping=mapping,  # type: ignore[arg-type]  # argparse checked the choices
        input_offset=args.input_offset,
        offset_inputs=args.offset_inputs,
        coupling=args.coupling,
    )


_alpha = _parsed(float, "a number", lambda v: 0 < v <= 1, "alpha must be in (0, 1]")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kim2024",
        help="Kim et al. 2024: glyph net -> weight-range quantization -> diode crossbar circuit",
        description="Train the two-layer net on 5x5 or 7x7 digit glyphs, find the fewest weight-range "
        "levels that keep recognition, map them to a diode-crossbar circuit and compare simulated "
        "and calculated output currents at each input voltage.",
    )
    p.add_argument("--grid", type=int, choices=(5, 7), default=5, help="glyph grid (default 5)")
    _add_circuit_options(p)
    p.add_argument(
        "--alpha", type=_alpha, default=1.0, help="recognition the quantized net must keep (default 1.0)"
    )
    p.add_argument("--max-q", type=_positive_int, default=40, help="largest q tried (default 40)")
    p.add_argument("--voltages", default="1,5,10", help="input voltages, comma-separated (default 1,5,10)")
    p.add_argument(
        "--backend", default="ngspice", choices=tuple(REGISTRY), help="circuit simulator (default ngspice)"
    )
    p.add_argument("--epochs", type=_positive_int, default=500, help="training epochs (default 500)")
    p.add_argument("--mapping", choices=KIM_SCHEMES, default="differential", help=_MAPPING_HELP)
    p.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    p.add_argument("--plot-dir", metavar="DIR", help="write the Fig. 3 and Fig. 6b PNGs here")
    p.set_defaults(func=run_kim)

    d = sub.add_parser(
        "demo",
        help="run the 5x5 Kim 2024 case end to end (about a minute) and write its figures",
        description="Trains the 5x5 net, quantizes it, simulates the circuit at 1, 5 and 10 V as the paper "
        "drove it (+0.65 V on lit pixels, buffered layers), runs a small study for Figs. 4a and 5 and "
        "writes result.json and PNGs.",
    )
    d.add_argument(
        "--out-dir", default="xbarsim-demo", metavar="DIR", help="output folder (default ./xbarsim-demo)"
    )
    d.add_argument(
        "--backend", default="ngspice", choices=tuple(REGISTRY), help="circuit simulator (default ngspice)"
    )
    _add_circuit_options(d)
    d.set_defaults(func=run_demo)


def _pct(x: Any) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:5.1f} %"


def format_report(res: dict[str, Any]) -> str:
    """Human-readable summary of a :func:`~xbarsim.experiments.kim2024.run_kim2024` result."""
    g = res["grid"]
    lines = [
        f"Kim et al. 2024 - {g}x{g} digit glyphs, seed {res['seed']}"
        + (f" ({res['seed_pick']})" if res.get("seed_pick") else ""),
        f"  trained {res['epochs']} epochs: recognition {_pct(res['accuracy_float'])}"
        + (
            f" (100 % first reached at epoch {res['first_perfect_epoch']})"
            if res["first_perfect_epoch"] > 0
            else " (100 % NOT reached)"
        ),
        f"  {res['n_weights']} weights, weight range {res['weight_range']:.3f}",
    ]
    if res["q_found"]:
        lines.append(
            f"  level search (alpha {res['alpha']:.0%}): q = {res['q']} -> {len(res['levels'])} levels"
        )
    else:
        lines.append(f"  level search (alpha {res['alpha']:.0%}): not reached up to q = {res['max_q']}")
    lines.append("      level value   weights")
    for v, c in zip(res["levels"], res["level_counts"]):
        lines.append(f"      {v:11.4f}   {c:7d}")
    lines.append(f"  quantized recognition {_pct(res['accuracy_quantized'])}")
    offset = res.get("input_offset", 0.0)
    lines.append(
        f"  circuit: {res['mapping']} mapping, {res.get('coupling', 'passive')} coupling, input offset "
        + (f"{offset:g} V ({res.get('offset_inputs')} rows)" if offset else "none")
        + f", backend {res['backend']}"
    )
    lines.append(
        "      V_in      r_ref   bias   gain   recognition   ideal calc   mean gap   max gap"
        "   vs PWL model   vs Shockley model"
    )
    for lab, pv in res["per_voltage"].items():
        gain = pv.get("buffer_gain")
        lines.append(
            f"  {lab:>6} V  {pv['r_ref']:9.4g}  {pv['bias_scale']:5.2f}  "
            + ("   -  " if gain is None else f"{gain:5.2f} ")
            + f"  {_pct(pv['spice_accuracy']):>10}   "
            f"{_pct(pv['ideal_accuracy']):>10}   {_pct(pv['mean_current_gap']):>8}  "
            f"{_pct(pv['max_current_gap']):>8}   "
            f"{_pct(pv['mean_current_gap_passive']):>8}        {pv['shockley_model_rel_error']:9.1e}"
        )
    lines.append(
        "  gap = |I_sim - I_calc| / |I_calc| of the output currents, I_calc = ideal calculation (no loading);"
    )
    lines.append(
        "  PWL model = same node equations with the ideal diode law; "
        "paper: gap up to 27 % at 1 V, recognition 100 %"
    )
    if res.get("coupling", "passive") == "passive" and any(
        pv["v_in"] + offset - 0.65 <= 0.65 for pv in res["per_voltage"].values()
    ):
        lines.append(
            "  note: at V_in + offset <= 1.3 V no hidden voltage of a passive circuit reaches "
            "layer 2's 0.65 V threshold,"
        )
        lines.append(
            "        so layer 2 only leaks sub-threshold current while the ideal calculation still conducts"
        )
    return "\n".join(lines)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(res: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    if not p.resolve().parent.is_dir():
        raise InputError(f"folder of --json does not exist: {p.parent}")
    p.write_text(json.dumps(_json_safe(res), indent=1) + "\n")
    return p


def run_kim(args: argparse.Namespace) -> int:
    from ..experiments.kim2024 import TrainSettings, run_kim2024

    voltages, labels = parse_voltages(args.voltages)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise InputError(f"folder of --json does not exist: {Path(args.json).parent}")
    design = design_from_args(args, args.mapping)
    seed, how = resolve_seed(args, args.grid, args.epochs, design, voltages)
    res = run_kim2024(
        args.grid,
        seed,
        alpha=args.alpha,
        max_q=args.max_q,
        voltages=voltages,
        voltage_labels=labels,
        backend=args.backend,
        settings=TrainSettings(epochs=args.epochs),
        design=design,
    )
    res["seed_pick"] = how
    print(format_report(res))
    if args.json:
        print(f"  wrote {write_json(res, args.json)}")
    if args.plot_dir:
        from ..experiments.kim2024_plots import plot_current_gap, plot_levels

        out = Path(args.plot_dir)
        for p in (
            plot_levels(res, out / "kim2024_fig3.png"),
            plot_current_gap(res, out / "kim2024_fig6b.png"),
        ):
            print(f"  wrote {p}")
    sys.stdout.flush()
    return 0


def run_demo(args: argparse.Namespace) -> int:
    import time

    from ..experiments.kim2024 import run_kim2024, run_study
    from ..experiments.kim2024_plots import (
        plot_current_gap,
        plot_groups_vs_epoch,
        plot_levels,
        plot_range_vs_q,
    )

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    design = design_from_args(args)
    print(f"xbarsim demo: Kim et al. 2024, 5x5 digits, {design.label()}, backend {args.backend}", flush=True)
    seed, how = resolve_seed(args, 5, 500, design, [1.0, 5.0, 10.0])
    res = run_kim2024(5, seed, backend=args.backend, voltages=(1.0, 5.0, 10.0), design=design)
    res["seed_pick"] = how
    print(format_report(res), flush=True)
    write_json(res, out / "result.json")
    print("  small study for Figs. 4a/5 (20 seeds x 25 models) ...", flush=True)
    study = run_study(5, n_seeds=20, models_per_seed=25)
    s = study.summary()
    print(
        f"  study: {s['n_models']} models, min q found for {_pct(s['q_found'])}, median q {s['q_median']}, "
        f"q <= 8 for {_pct(s['q_le_8'])}, corr(range, q) {s['corr_range_q']:.2f}"
    )
    paths = [
        plot_levels(res, out / "kim2024_fig3.png"),
        plot_range_vs_q(study, out / "kim2024_fig4a.png"),
        plot_groups_vs_epoch(study, out / "kim2024_fig5.png"),
        plot_current_gap(res, out / "kim2024_fig6b.png"),
    ]
    for p in [out / "result.json", *paths]:
        print(f"  wrote {p}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0
