"""Native solver benchmark: every figure of issue 4 side by side with its goal, in one run.

    python bench/solver.py            # full run (ngspice on 64x64 x 100 vectors takes minutes)
    python bench/solver.py --quick    # subset: fewer ngspice vectors, no 512 x 512

Figures (per-vector times are wall time / number of vectors; native times include its one-time
setup unless said otherwise; the machine is shared, so expect noise):

1. 64x64 resistor array, 1 ohm wires, 100 vectors: native vs ngspice (one batched DC sweep).
2. 128x128 with wires, 10,000 vectors: native (cached transfer) vs the ideal NumPy product, plus
   the one-time setup.
3. 256x256 and 512x512: setup time and peak resident memory, each in a fresh subprocess.
4. 32x32 diode array, 100 vectors: native (Newton) vs ngspice.
5. and 6. Issue 12, nonlinear cells at 128x128 (random 25-200 uS, 1 ohm wires): 1T1R
   (``mos="level1"``, gate on, binary 0/0.2 V reads), then diodes (binary 0/5 V): the chord
   iteration (default, setup included) vs today's Newton (``method="newton"``) and ngspice
   (reltol 1e-7) in the same run.
7. Monte-Carlo re-setup: 128x128 linear setup of a fresh pattern vs a re-drawn array (same
   pattern, new conductances: the stored ordering is reused).
8. ``xs.solve`` called twice on the same 128x128 circuit with wires (100 vectors): the first call
   pays the setup, the second reuses the shared backend instance and its cached factorization,
   so it costs the product; beside it a new backend per call (what ``xs.solve`` did before) and
   the bare ``V @ G``.

``--only 5,7`` runs a subset; ``--sizes 512 1024`` sets the large linear sizes of figure 3.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _blas_threads(argv: list[str]) -> str:
    # BLAS threads must be fixed before NumPy is imported. On this shared 2-core machine with
    # 5 busy helpers, OpenBLAS threads spin against each other: small dense products got 10x
    # slower (measured: 128x128 cached solve 104 us/vector with 2 threads, 10 us with 1).
    # OMP_NUM_THREADS is left alone: numba's OpenMP threading layer (the native chord kernels)
    # reads it, and those kernels split vectors between all cores without any spinning.
    n = argv[argv.index("--blas-threads") + 1] if "--blas-threads" in argv else "1"
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
    return n


BLAS_THREADS = _blas_threads(sys.argv)

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xbarsim.backends import available_backends, get_backend
from xbarsim.circuit import CellModel, Crossbar
from xbarsim.solution import relative_error

_CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from xbarsim.circuit import Crossbar
from xbarsim.backends.native import NativeBackend
rng = np.random.default_rng(0)
n = {n}
xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (n, n)), r_wire=1.0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
be = NativeBackend()
t0 = time.perf_counter()
tr = be.transfer(xb)
setup = time.perf_counter() - t0
V = rng.uniform(0, 1, (1000, n))
t0 = time.perf_counter()
be.solve(xb, V)
per = (time.perf_counter() - t0) / 1000
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(setup=setup, per_vector=per, peak_mb=peak, base_mb=base / 1024)))
"""


def _rng() -> np.random.Generator:
    return np.random.default_rng(2024)


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def fig_resistor_vs_ngspice(n_vec: int, has_ngspice: bool) -> list[tuple[str, str, str]]:
    rng = _rng()
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (64, 64)), r_wire=1.0)
    V = rng.uniform(0, 1, (n_vec, 64))
    t_nat, nat = _timed(lambda: get_backend("native").solve(xb, V))  # fresh backend: includes setup
    be = get_backend("native")
    be.solve(xb, V[:1])
    t_cached, _ = _timed(lambda: be.solve(xb, V), repeat=3)
    rows = [
        ("64x64 R, 1 ohm wires: native per vector (incl. setup)", f"{t_nat / n_vec * 1e6:.1f} us", ""),
        ("64x64 R: native per vector (transfer cached)", f"{t_cached / n_vec * 1e6:.2f} us", ""),
    ]
    if has_ngspice:
        t_ng, ng = _timed(lambda: get_backend("ngspice").solve(xb, V))
        rows += [
            (f"64x64 R: ngspice per vector (one DC sweep of {n_vec})", f"{t_ng / n_vec * 1e3:.1f} ms", ""),
            ("64x64 R: speed-up native (incl. setup) / ngspice", f"{t_ng / t_nat:.0f}x", ">= 1000x"),
            ("64x64 R: speed-up native (transfer cached) / ngspice", f"{t_ng / t_cached:.0f}x", ">= 1000x"),
            (
                "64x64 R: vectors per circuit for 1000x incl. setup",
                f"{max(1, int(np.ceil(1000 * (t_nat - t_cached) / (t_ng - 1000 * t_cached) * n_vec)))}",
                "",
            ),
            (
                "64x64 R: agreement max|dI|/max|I| vs ngspice",
                f"{relative_error(nat.currents, ng.currents):.1e}",
                "<= 1e-6",
            ),
        ]
    return rows


def fig_128_vs_ideal(n_vec: int) -> list[tuple[str, str, str]]:
    rng = _rng()
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (128, 128)), r_wire=1.0)
    V = rng.uniform(0, 1, (n_vec, 128))
    be = get_backend("native")
    t_setup, _ = _timed(lambda: be.transfer(xb))
    ideal = get_backend("ideal")
    t_ideal, _ = _timed(lambda: ideal.solve(xb, V), repeat=5)
    t_nat, _ = _timed(lambda: be.solve(xb, V), repeat=5)
    return [
        (f"128x128 R, wires, {n_vec} vectors: ideal product", f"{t_ideal * 1e3:.1f} ms", ""),
        (f"128x128: native with wires, {n_vec} vectors", f"{t_nat * 1e3:.1f} ms", ""),
        ("128x128: native / ideal time", f"{t_nat / t_ideal:.2f}x", "<= 3x"),
        ("128x128: native one-time setup", f"{t_setup:.2f} s", "<= 1 s"),
    ]


def fig_large(sizes: list[int]) -> list[tuple[str, str, str]]:
    rows = []
    for n in sizes:
        code = _CHILD.format(root=str(ROOT), n=n)
        out = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=3600
        )
        if out.returncode != 0:
            rows.append(
                (f"{n}x{n}: setup", "FAILED", out.stderr.strip().splitlines()[-1] if out.stderr else "")
            )
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        goal = {512: "< 4096 MB", 1024: "<= 8192 MB"}.get(n, "")
        rows += [
            (
                f"{n}x{n} R, 1 ohm wires: native setup (transfer)",
                f"{r['setup']:.1f} s",
                "<= 5 s" if n == 512 else "",
            ),
            (
                f"{n}x{n}: peak RSS of the process (imports {r['base_mb']:.0f} MB)",
                f"{r['peak_mb']:.0f} MB",
                goal,
            ),
            (f"{n}x{n}: native per vector (batch of 1000, cached)", f"{r['per_vector'] * 1e6:.1f} us", ""),
        ]
    return rows


def fig_diode(n_vec: int, has_ngspice: bool) -> list[tuple[str, str, str]]:
    rng = _rng()
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (32, 32)), cell=CellModel(kind="diode"), r_wire=1.0)
    V = rng.uniform(0, 5, (n_vec, 32))
    t_nat, nat = _timed(lambda: get_backend("native").solve(xb, V))
    rows = [("32x32 diode, 1 ohm wires: native per vector (Newton)", f"{t_nat / n_vec * 1e3:.1f} ms", "")]
    if has_ngspice:
        t_ng, ng = _timed(lambda: get_backend("ngspice").solve(xb, V))
        tight = get_backend("ngspice", options={"reltol": 1e-6}).solve(xb, V[: min(10, n_vec)])
        rows += [
            (
                f"32x32 diode: ngspice per vector (one DC sweep of {n_vec})",
                f"{t_ng / n_vec * 1e3:.1f} ms",
                "",
            ),
            ("32x32 diode: speed-up native / ngspice", f"{t_ng / t_nat:.1f}x", "(measure)"),
            (
                "32x32 diode: agreement vs ngspice reltol=1e-6",
                f"{relative_error(nat.currents[: tight.batch_size], tight.currents):.1e}",
                "<= 1e-4",
            ),
            (
                "32x32 diode: agreement vs ngspice default reltol",
                f"{relative_error(nat.currents, ng.currents):.1e}",
                "<= 1e-4",
            ),
        ]
    return rows


def _per_vector(be, xb, V) -> tuple[float, object]:
    t, sol = _timed(lambda: be.solve(xb, V))
    return t / V.shape[0], sol


def fig_nonlinear_128(kind: str, n_vec: int, n_ref: int, n_ng: int, has_ngspice: bool) -> list:
    from xbarsim.native.kernels import HAVE_NUMBA, warm_up

    # Once per process (numba's on-disk cache; bootstrap.sh compiles it after installing): not a
    # per-circuit setup cost, so it is paid before the clock starts and shown on its own row.
    t_warm = warm_up()
    rng = _rng()
    n = 128
    cell = CellModel(kind=kind)
    xb = Crossbar(G=rng.uniform(25e-6, 200e-6, (n, n)), cell=cell, r_wire=1.0)
    V = rng.choice([0.0, 0.2 if kind == "1t1r" else 5.0], size=(n_vec, n))
    be = get_backend("native")
    t_ch, ch = _per_vector(be, xb, V)  # fresh backend: setup included
    chord = be._cache[id(xb)].chord
    t_nw, nw = _per_vector(get_backend("native", method="newton"), xb, V[:n_ref])
    tag = f"128x128 {kind}"
    rows = [
        (
            f"{tag}: numba kernels loaded (once per process{'' if HAVE_NUMBA else ', NumPy twins'})",
            f"{t_warm:.2f} s",
            "",
        ),
        (
            f"{tag}: chord per vector ({n_vec} vectors, incl. setup)",
            f"{t_ch * 1e3:.2f} ms",
            "<= 2 ms" if kind == "1t1r" else "<= 4 ms",
        ),
        (
            f"{tag}: chord steps per vector (structured LU, float32 sweeps)",
            f"{chord.iterations / max(1, chord.vectors):.2f}",
            f"{chord.blu is not None}, {bool(chord.blu and chord.blu.single)}",
        ),
        (f"{tag}: today's Newton per vector ({n_ref} vectors)", f"{t_nw * 1e3:.1f} ms", ""),
        (f"{tag}: speed-up chord / Newton", f"{t_nw / t_ch:.1f}x", ""),
        (
            f"{tag}: agreement chord vs Newton",
            f"{relative_error(ch.currents[:n_ref], nw.currents):.1e}",
            "<= 1e-8",
        ),
    ]
    if has_ngspice and n_ng:
        # One 128x128 1T1R vector at reltol 1e-7 takes ngspice minutes on a loaded machine.
        ngspice = get_backend("ngspice", options={"reltol": 1e-7}, timeout=3600.0)
        t_ng, ng = _per_vector(ngspice, xb, V[:n_ng])
        rows += [
            (f"{tag}: ngspice reltol 1e-7 per vector ({n_ng} vectors)", f"{t_ng * 1e3:.0f} ms", ""),
            (f"{tag}: speed-up chord / ngspice", f"{t_ng / t_ch:.0f}x", ""),
            (
                f"{tag}: agreement chord vs ngspice reltol 1e-7",
                f"{relative_error(ch.currents[:n_ng], ng.currents):.1e}",
                "<= 1e-6",
            ),
        ]
    return rows


def fig_monte_carlo(trials: int = 3) -> list[tuple[str, str, str]]:
    from xbarsim.native import ordering

    rng = _rng()
    fresh, redrawn = [], []
    for _ in range(trials):
        xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (128, 128)), r_wire=1.0)
        ordering.clear()
        fresh.append(_timed(lambda xb=xb: get_backend("native").transfer(xb))[0])
        trial = xb.replace(G=rng.uniform(1e-6, 1e-4, (128, 128)))
        redrawn.append(_timed(lambda trial=trial: get_backend("native").transfer(trial))[0])
    f, r = float(np.median(fresh)), float(np.median(redrawn))
    return [
        ("128x128 R: linear setup, fresh pattern (median)", f"{f * 1e3:.0f} ms", ""),
        ("128x128 R: linear setup, re-drawn array (same pattern)", f"{r * 1e3:.0f} ms", "<= 20 ms"),
        ("128x128 R: re-drawn / fresh setup", f"{r / f:.2f}", ""),
    ]


def fig_repeat_solve(n_vec: int = 100) -> list[tuple[str, str, str]]:
    from xbarsim.backends import clear_shared, solve

    rng = _rng()
    xb = Crossbar(G=rng.uniform(1e-6, 1e-4, (128, 128)), r_wire=1.0)
    V = rng.uniform(0, 0.2, (n_vec, 128))
    clear_shared()
    t_first, a = _timed(lambda: solve(xb, V, "native"))
    t_second, b = _timed(lambda: solve(xb, V, "native"), repeat=5)
    t_fresh, _ = _timed(lambda: get_backend("native").solve(xb, V))
    t_prod, _ = _timed(lambda: V @ xb.G, repeat=20)
    same = np.array_equal(a.currents, b.currents)  # type: ignore[attr-defined]
    return [
        (f"128x128 R, wires, {n_vec} vectors: first xs.solve (setup)", f"{t_first * 1e3:.1f} ms", ""),
        ("128x128: second xs.solve of the same circuit", f"{t_second * 1e3:.3f} ms", "~ the product"),
        ("128x128: a new backend per call (xs.solve before)", f"{t_fresh * 1e3:.1f} ms", ""),
        ("128x128: bare V @ G", f"{t_prod * 1e3:.3f} ms", ""),
        ("128x128: new-backend-per-call / second xs.solve", f"{t_fresh / t_second:.0f}x", ""),
        ("128x128: second xs.solve gives the same currents", "yes" if same else "NO", "yes"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer ngspice vectors, no 512x512")
    ap.add_argument("--no-ngspice", action="store_true", help="skip the ngspice comparisons")
    ap.add_argument(
        "--sizes", type=int, nargs="*", default=None, help="large sizes for setup/memory (e.g. 512 1024)"
    )
    ap.add_argument("--only", help="run only the figures whose number is listed, e.g. 5,6")
    ap.add_argument(
        "--blas-threads", default="1", help="BLAS threads for every figure (default 1, see above)"
    )
    args = ap.parse_args(argv)
    has_ng = "ngspice" in available_backends() and not args.no_ngspice
    n64 = 10 if args.quick else 100
    sizes = args.sizes if args.sizes is not None else ([256] if args.quick else [256, 512])
    print(
        f"xbarsim native solver benchmark  (cpus: {os.cpu_count()}, BLAS threads: {BLAS_THREADS}, "
        f"numba threads: {os.environ.get('NUMBA_NUM_THREADS', os.cpu_count())}, load avg: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; shared machine)"
    )
    rows: list[tuple[str, str, str]] = []
    only = {int(k) for k in args.only.split(",")} if args.only else None
    figs = (
        lambda: fig_resistor_vs_ngspice(n64, has_ng),
        lambda: fig_128_vs_ideal(10_000),
        lambda: fig_large(sizes),
        lambda: fig_diode(n64, has_ng),
        lambda: fig_nonlinear_128("1t1r", 100 if args.quick else 1000, 3, 0 if args.quick else 1, has_ng),
        lambda: fig_nonlinear_128("diode", 100 if args.quick else 1000, 2, 0 if args.quick else 1, has_ng),
        lambda: fig_monte_carlo(),
        lambda: fig_repeat_solve(),
    )
    for number, fig in enumerate(figs, start=1):
        if only is not None and number not in only:
            continue
        new = fig()
        rows += new
        for r in new:
            print(f"  {r[0]:<64s} {r[1]:>12s}   {r[2]}", flush=True)
    print()
    print(f"{'figure':<66s} {'measured':>12s}   goal")
    for r in rows:
        print(f"{r[0]:<66s} {r[1]:>12s}   {r[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
