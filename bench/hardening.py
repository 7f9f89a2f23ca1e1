"""Kill-and-count benchmark of the hardening work: orphaned simulators and lost or doubled results.

    python bench/hardening.py                 # 12 solve kills + 8 sweep kills (a few minutes)
    python bench/hardening.py --kills 3 --sweep-kills 2

1. ``xbarsim solve --backend ngspice`` on a 96x96 array with 1-ohm wires (300 vectors: ngspice runs
   about a minute), each run with its own TMPDIR; once ngspice runs, after a random delay, the
   driver gets SIGTERM, SIGINT or SIGKILL in turn. Counted afterwards: processes whose working
   directory lies under that TMPDIR (ngspice runs in its work directory there) and leftover
   ``xbarsim-*`` entries. Goal: 0 and 0.
2. ``xbarsim sweep run`` of a 40-point selftest sweep (each point sleeps) on 2 workers, SIGKILLed
   at random moments and resumed until done. Counted: rows in the results file vs points, rows
   per point id, failed rows. Goal: 0 lost, 0 duplicated.
Nothing outside the TMPDIRs made here is touched or counted.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xbarsim.spice.reaper import processes_under, wait_until

XBARSIM = [sys.executable, "-m", "xbarsim"]


def solve_kills(n: int, rng: random.Random) -> tuple[int, int, int]:
    """(kills sent, orphaned processes, leftover temp entries) over ``n`` killed solves."""
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)
    orphans = leftovers = sent = 0
    with tempfile.TemporaryDirectory(prefix="xbarsim-bench-") as base:
        data = Path(base)
        g = np.random.default_rng(0)
        np.save(data / "G.npy", g.uniform(1e-5, 1e-4, (96, 96)))
        np.save(data / "V.npy", g.uniform(0, 0.2, (300, 96)))
        for k in range(n):
            tmp = data / f"run{k}"
            tmp.mkdir()
            cmd = [*XBARSIM, "solve", "-G", str(data / "G.npy"), "-V", str(data / "V.npy")]
            cmd += ["--backend", "ngspice", "--r-wire", "1", "--timeout", "60", "-o", str(tmp / "I.npy")]
            proc = subprocess.Popen(
                cmd,
                env={**os.environ, "TMPDIR": str(tmp)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if not wait_until(lambda tmp=tmp: any(c == "ngspice" for _, c in processes_under(tmp)), 30):
                proc.kill()
                raise SystemExit("ngspice never started")
            time.sleep(rng.uniform(0.0, 2.0))
            proc.send_signal(sigs[k % 3])
            sent += 1
            proc.wait(timeout=30)
            time.sleep(3.0)  # what survives 3 s after the driver died is an orphan
            left = processes_under(tmp)
            orphans += len(left)
            leftovers += len(list(tmp.glob("xbarsim-*")))
            for pid, _ in left:  # clean up after a failure so the next run is independent
                os.kill(pid, signal.SIGKILL)
            print(f"  solve kill {k + 1}/{n} ({sigs[k % 3].name}): {len(left)} left", flush=True)
    return sent, orphans, leftovers


SWEEP = """name = "killed"
experiment = "selftest"
[fixed]
sleep = 0.4
[grid]
x = [1.0, 2.0]
trial = {{ start = 0, stop = {n} }}
"""


def sweep_kills(kills: int, points: int, rng: random.Random) -> dict[str, int]:
    """Kill a sweep ``kills`` times, resume it to the end; count rows lost, doubled and failed."""
    with tempfile.TemporaryDirectory(prefix="xbarsim-bench-") as base:
        spec = Path(base) / "killed.toml"
        spec.write_text(SWEEP.format(n=points // 2))
        db = Path(base) / "killed.sqlite"
        cmd = [*XBARSIM, "sweep", "run", str(spec), "--db", str(db), "--workers", "2"]
        env = {**os.environ, "TMPDIR": base}
        for k in range(kills):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(1.5, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            wait_until(lambda: not [p for p, c in processes_under(Path(base)) if c != "sqlite3"], 10)
            print(f"  sweep kill {k + 1}/{kills}", flush=True)
        runs = kills
        while True:
            runs += 1
            if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode == 0:
                break
            if runs > kills + 5:
                raise SystemExit("the sweep did not finish after the kills")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT id, status FROM points").fetchall()
    ids = [r[0] for r in rows]
    return {
        "points": points,
        "rows": len(rows),
        "lost": points - len(set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "failed": sum(1 for r in rows if r[1] != "done"),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=12, help="killed ngspice-backed solves (default 12)")
    ap.add_argument("--sweep-kills", type=int, default=8, help="kills of one sweep run (default 8)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    sent, orphans, leftovers = solve_kills(args.kills, rng)
    sweep = sweep_kills(args.sweep_kills, 40, rng)
    print()
    print(
        f"solve: {sent} kills (SIGTERM/SIGINT/SIGKILL in turn): {orphans} orphaned processes, "
        f"{leftovers} temp entries left   (goal 0 / 0)"
    )
    print(
        f"sweep: {args.sweep_kills} SIGKILLs, finished in {sweep['runs']} runs: {sweep['rows']} rows for "
        f"{sweep['points']} points, {sweep['lost']} lost, {sweep['duplicated']} duplicated, "
        f"{sweep['failed']} not done   (goal 0 / 0 / 0)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
