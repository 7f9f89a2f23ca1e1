"""``xbarsim solve`` and ``xbarsim netlist``: one crossbar from G and V files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backends import REGISTRY
from ..circuit import CELL_KINDS
from . import picked

if TYPE_CHECKING:
    from ..circuit import Crossbar
    from ..solution import Solution

#: Backends that run ngspice decks (``--netlist`` writes what they run).
DECK_BACKENDS = ("ngspice", "pyspice")


#: (flag, type, default, metavar, help) of the numeric circuit options of ``solve`` and ``netlist``.
CIRCUIT_OPTIONS: tuple[tuple[str, Callable[[str], Any], float | None, str, str], ...] = (
    ("--v-gate", float, 3.3, "VOLT", "1T1R gate voltage (default 3.3)"),
    ("--diode-threshold", float, 0.65, "VOLT", "diode threshold of the ideal law (default 0.65)"),
    ("--r-wire", float, None, "OHM", "resistance of each row and column wire segment (default 0)"),
    ("--r-row", float, None, "OHM", "word-line (row) segment resistance (default: --r-wire)"),
    ("--r-col", float, None, "OHM", "bit-line (column) segment resistance (default: --r-wire)"),
    ("--r-driver", float, 0.0, "OHM", "input driver resistance (default 0)"),
    ("--r-sense", float, 0.0, "OHM", "column-to-sense-node resistance (default 0)"),
    ("--r-ref", float, None, "OHM", "reference resistor to ground: outputs become its voltages"),
    ("--input-offset", float, 0.0, "VOLT", "driver offset added to the rows (default 0)"),
    ("--dac-bits", int, None, "B", "quantize input voltages to 2**B levels"),
    ("--dac-range", str, None, "LO,HI", "DAC range in volts (with --dac-bits)"),
    ("--adc-bits", int, None, "B", "convert the outputs with a B-bit ADC"),
    (
        "--adc-range",
        float,
        None,
        "VALUE",
        "ADC full scale (A, or V with --r-ref): codes span [-VALUE, VALUE]",
    ),
)


def _add_circuit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--conductance",
        "-G",
        required=True,
        metavar="FILE",
        help="(M, N) conductances in siemens, .npy or .csv",
    )
    p.add_argument(
        "--voltages", "-V", required=True, metavar="FILE", help="(B, M) or (M,) input voltages, .npy or .csv"
    )
    p.add_argument("--cell", choices=CELL_KINDS, default="resistor", help="cell kind (default resistor)")
    for flag, kind, default, metavar, text in CIRCUIT_OPTIONS:
        p.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)
    p.add_argument(
        "--offset-rows",
        choices=("all", "active"),
        default="all",
        help="rows that get the offset: all, or only those asked for a nonzero voltage (default all)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("solve", help="solve one crossbar for a batch of input vectors")
    _add_circuit_options(p)
    p.add_argument(
        "--backend",
        default="native",
        choices=tuple(REGISTRY),
        help="solver backend (default native: solves the whole circuit; ideal leaves out wires, "
        "drivers, sense resistors and selectors, and says so)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="ngspice time limit per run (default 600; only the ngspice backend has one)",
    )
    p.add_argument(
        "--keep-dir",
        metavar="DIR",
        help="ngspice backend: keep each run's deck, raw file and console output in a folder under DIR",
    )
    p.add_argument(
        "--backend-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option passed to the backend, repeatable (e.g. mos=linear or reltol=1e-6 for native; "
        "ngspice: options are ngspice .options, e.g. reltol=1e-6)",
    )
    p.add_argument(
        "--out",
        "-o",
        metavar="FILE",
        help="write (B, N) outputs (.npy or .csv): amperes, or volts with --r-ref (after the ADC if any)",
    )
    p.add_argument(
        "--netlist",
        metavar="FILE",
        help="ngspice/pyspice: also write the deck that ran, byte for byte; a batch split into "
        "several runs (over 1000 vectors) writes one file per run, FILE with .0, .1, ... before its suffix",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_solve)

    n = sub.add_parser("netlist", help="write the ngspice deck of one crossbar and its inputs")
    _add_circuit_options(n)
    n.add_argument("--out", "-o", required=True, metavar="FILE", help="deck file to write ('-' for stdout)")
    n.set_defaults(func=run_netlist)


def _circuit_and_inputs(args: argparse.Namespace):
    from .._validate import check_voltages
    from ..circuit import CellModel, Crossbar, DiodeModel
    from ..io import load_array

    G = load_array(args.conductance, "conductance")
    V = load_array(args.voltages, "voltages")
    cell = CellModel(kind=args.cell, v_gate=args.v_gate, diode=DiodeModel(v_threshold=args.diode_threshold))
    xb = Crossbar(
        G=G if G.ndim != 1 else G[:, None],
        cell=cell,
        driver=_driver(args),
        adc=_adc(args),
        **picked(args, "r_wire", "r_row", "r_col", "r_driver", "r_sense", "r_ref"),
    )
    return xb, check_voltages(V, xb.n_inputs)


def _driver(args: argparse.Namespace):
    from ..errors import InputError
    from ..periphery import Driver

    lo = hi = None
    if args.dac_range is not None:
        parts = args.dac_range.split(",")
        if len(parts) != 2:
            raise InputError(f"--dac-range must look like LO,HI (volts), got {args.dac_range!r}")
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"--dac-range must be two numbers LO,HI, got {args.dac_range!r}") from None
    return Driver(
        offset=args.input_offset, offset_inputs=args.offset_rows, bits=args.dac_bits, v_min=lo, v_max=hi
    )


def _adc(args: argparse.Namespace):
    from ..errors import InputError
    from ..periphery import ADC

    if args.adc_bits is None:
        if args.adc_range is not None:
            raise InputError("--adc-range needs --adc-bits")
        return None
    if args.adc_range is None:
        raise InputError("--adc-bits needs --adc-range VALUE (the full scale of the outputs)")
    return ADC(bits=args.adc_bits, full_scale=args.adc_range)


def _write_text(path: str, text: str) -> None:
    from ..errors import InputError

    if path == "-":
        sys.stdout.write(text)
        return
    p = Path(path)
    if not p.parent.exists():
        raise InputError(f"directory of netlist file {path!r} does not exist")
    p.write_text(text)


def run_netlist(args: argparse.Namespace) -> int:
    from ..netlist import write_netlist

    xb, V = _circuit_and_inputs(args)
    _write_text(args.out, write_netlist(xb, V))
    return 0


def _parse_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    """Backend constructor options from ``--backend-option`` (ngspice/pyspice: ngspice .options).

    Options a backend cannot honour are refused, not dropped: ``--timeout`` and ``--keep-dir``
    need the ngspice backend, ``--netlist`` one that runs a deck.
    """
    from ..errors import InputError

    if args.timeout is not None and args.backend != "ngspice":
        raise InputError(f"--timeout applies to the ngspice backend only, not to {args.backend!r}")
    if args.keep_dir is not None and args.backend != "ngspice":
        raise InputError(f"--keep-dir applies to the ngspice backend only, not to {args.backend!r}")
    if args.netlist and args.backend not in DECK_BACKENDS:
        raise InputError(
            f"--netlist writes the deck that ran, and backend {args.backend!r} runs none; "
            "use --backend ngspice, or 'xbarsim netlist' for the deck of this circuit"
        )
    pairs: dict[str, object] = {}
    for item in args.backend_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"--backend-option must look like KEY=VALUE, got {item!r}")
        pairs[key.strip()] = _parse_value(value.strip())
    if args.backend in DECK_BACKENDS:
        options: dict[str, object] = {"options": pairs} if pairs else {}
        if args.backend == "ngspice":
            options["timeout"] = 600.0 if args.timeout is None else args.timeout
            if args.keep_dir is not None:
                options["keep_dir"] = args.keep_dir
        return options
    return pairs


def netlist_paths(path: str, runs: int) -> list[str]:
    """Where ``--netlist FILE`` writes each run's deck: FILE itself, or FILE.0.cir, FILE.1.cir ..."""
    if runs == 1 or path == "-":
        return [path] * runs
    p = Path(path)
    return [str(p.with_name(f"{p.stem}.{k}{p.suffix}")) for k in range(runs)]


def _solve(args: argparse.Namespace, backend: Any, xb: Crossbar, V: np.ndarray) -> Solution:
    """Solve; with ``--netlist`` each deck is written just before it runs (the exact text run)."""
    from ..backends.ngspice import DeckBackend
    from ..errors import InputError

    if not args.netlist:
        return backend.solve(xb, V)
    assert isinstance(backend, DeckBackend)
    paths = netlist_paths(args.netlist, backend.n_runs(int(V.shape[0])))
    for path in dict.fromkeys(paths):
        if path != "-" and not Path(path).parent.exists():
            raise InputError(f"directory of netlist file {path!r} does not exist")

    def sink(run: int, runs: int, text: str) -> None:
        _write_text(paths[run], text)

    return backend.solve_writing(xb, V, sink)


def run_solve(args: argparse.Namespace) -> int:
    from .._validate import check_finite_result
    from ..backends import get_backend
    from ..errors import InputError
    from ..io import save_array

    options = _backend_options(args)
    xb, V = _circuit_and_inputs(args)
    backend = get_backend(args.backend, **options)
    t0 = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are refused below
            sol = _solve(args, backend, xb, V)
    except MemoryError:
        raise InputError(
            f"not enough memory to solve a {xb.n_inputs}x{xb.n_outputs} {xb.cell.kind} crossbar "
            f"for {V.shape[0]} input vector(s) with backend {args.backend}; use a smaller array or batch"
        ) from None
    seconds = time.perf_counter() - t0
    out = sol.outputs
    for what, values in (("output", out), ("current", sol.currents), ("power", sol.power)):
        check_finite_result(values, what, sol.backend)  # never NaN/inf with exit 0 (nor in --json)
    if args.out:
        save_array(args.out, out)
    summary = {
        "backend": sol.backend,
        "shape": {"inputs": xb.n_inputs, "outputs": xb.n_outputs, "batch": int(V.shape[0])},
        "cell": xb.cell.kind,
        "output": "voltage" if sol.sensed_by_voltage else "current",
        "max_abs_current": float(np.max(np.abs(sol.currents))),
        "max_abs_output": float(np.max(np.abs(out))),
        "max_abs_analog_output": float(np.max(np.abs(sol.analog_outputs))),
        "power_w": {
            "mean": float(np.mean(sol.power)),
            "max": float(np.max(sol.power)),
            "total": float(np.sum(sol.power)),
        },
        "seconds": seconds,
        "ignored": list(sol.ignored),
    }
    if args.out:
        summary["out"] = str(args.out)
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
    else:
        unit = "V" if sol.sensed_by_voltage else "A"
        print(
            f"{xb.n_inputs}x{xb.n_outputs} {xb.cell.kind} crossbar, {V.shape[0]} input vector(s), "
            f"backend {sol.backend}"
        )
        print(
            f"max |output| = {summary['max_abs_output']:.6g} {unit}, "
            f"mean power = {summary['power_w']['mean']:.6g} W, {seconds:.3g} s"
        )
        if not args.out:
            with np.printoptions(precision=6, suppress=False, linewidth=120):
                print(out)
    return 0
