"""Per-vector time of one ngspice process for a batch of vectors vs one process per vector.

32x32 resistor crossbar with 1-ohm wires (default). Prints, side by side, the per-vector wall time
of a B-vector batch (one deck, one DC sweep over the vector index) and of a 1-vector run, and
their ratio (goal: <= 0.1). ``--alter`` also times the alternative batch deck, a .control loop
of ``alter`` + ``op`` per vector, so the choice of the sweep deck stays measured.

    python bench/ngspice_batch.py [--size 32] [--batch 100] [--repeat 3] [--alter]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from xbarsim.backends.ngspice import NgspiceBackend
from xbarsim.circuit import Crossbar
from xbarsim.netlist import build_deck
from xbarsim.solution import relative_error


def alter_loop_deck(xb: Crossbar, V: np.ndarray) -> tuple[str, list[str]]:
    """The same circuit as an .op deck plus a .control loop that alters the inputs and re-solves."""
    deck = build_deck(xb, V[0])
    body = [ln for ln in deck.text.splitlines() if ln not in (".op", ".end")]
    body = [ln for ln in body if not ln.startswith(".save")]
    ctl = [".control", "set filetype=binary", f"save {' '.join(deck.ammeter_vectors)}"]
    for k in range(V.shape[0]):
        ctl += [f"alter vin_{i} = {float(V[k, i])!r}" for i in range(V.shape[1])]
        ctl.append("op")
    ctl += ["write alter.raw", ".endc", ".end"]
    return "\n".join(body + ctl) + "\n", list(deck.ammeter_vectors)


def run_alter(text: str) -> None:
    """Run the alter/op deck (its .control block writes alter.raw itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "alter.cir").write_text(text)
        # ngspice exits 1 after a .control block, so the raw file decides
        subprocess.run(["ngspice", "-b", "alter.cir"], check=False, cwd=tmp, capture_output=True, timeout=600)
        if not (Path(tmp) / "alter.raw").exists():
            raise RuntimeError("the alter/op deck wrote no raw file")


def timed(fn, repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time of the child processes (robust on a shared machine)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32, help="crossbar is size x size (default 32)")
    ap.add_argument("--batch", type=int, default=100, help="vectors in the batch (default 100)")
    ap.add_argument("--r-wire", type=float, default=1.0, help="wire segment resistance in ohm (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    ap.add_argument("--alter", action="store_true", help="also time the alter/op control-loop deck")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(2024)
    G = rng.uniform(1e-6, 1e-4, (args.size, args.size))
    V = rng.uniform(0.0, 0.5, (args.batch, args.size))
    xb = Crossbar(G, r_wire=args.r_wire)
    be = NgspiceBackend()

    B = args.batch
    w_batch, c_batch = (t / B for t in timed(lambda: be.solve(xb, V), args.repeat))
    w_single, c_single = timed(lambda: be.solve(xb, V[:1]), args.repeat)
    sol = be.solve(xb, V)
    singles = np.concatenate([be.solve(xb, V[k : k + 1]).currents for k in range(min(5, B))])
    agree = relative_error(sol.currents[: singles.shape[0]], singles)

    print(f"{args.size}x{args.size} resistor crossbar, r_wire = {args.r_wire:g} ohm, best of {args.repeat}")
    print(f"{'run':<36}{'wall/vector [ms]':>18}{'ngspice CPU/vector [ms]':>25}")
    print(f"{'1-vector deck (.op)':<36}{w_single * 1e3:>18.2f}{c_single * 1e3:>25.2f}")
    print(f"{f'{B}-vector deck (DC index sweep)':<36}{w_batch * 1e3:>18.2f}{c_batch * 1e3:>25.2f}")
    if args.alter:
        text, _ = alter_loop_deck(xb, V)
        w_alter, c_alter = (t / B for t in timed(lambda: run_alter(text), args.repeat))
        print(f"{f'{B}-vector deck (alter/op loop)':<36}{w_alter * 1e3:>18.2f}{c_alter * 1e3:>25.2f}")
    print(
        f"batch/single per-vector ratio: wall {w_batch / w_single:.3f}, "
        f"CPU {c_batch / c_single:.3f}  (goal <= 0.1)"
    )
    print(f"batch vs one vector per run, first {singles.shape[0]} vectors: {agree:.2e} relative difference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
