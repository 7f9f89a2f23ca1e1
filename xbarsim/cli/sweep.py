"""``xbarsim sweep run|status|export|plot|experiments``: parameter sweeps with a SQLite results store.

The results file defaults to ``<sweep file stem>.sqlite`` in the current directory. A sweep that
was interrupted (Ctrl-C, SIGKILL, lost machine) is resumed by running the same command again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sweep.spec import SweepSpec
    from ..sweep.store import ResultsStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run parameter sweeps / Monte-Carlo studies (local pool or Dask)")
    ss = p.add_subparsers(dest="sweep_command", metavar="ACTION", parser_class=type(p))
    ss.required = True

    def common(q: argparse.ArgumentParser, spec_required: bool) -> None:
        if spec_required:
            q.add_argument("spec", metavar="SWEEP.toml", help="sweep file")
        else:
            q.add_argument(
                "spec", nargs="?", metavar="SWEEP.toml", help="sweep file (default: every sweep in --db)"
            )
        q.add_argument("--db", metavar="FILE", help="results file (default: <sweep file stem>.sqlite here)")
        if not spec_required:
            q.add_argument(
                "--sweep", metavar="NAME", help="pick one stored sweep by name when --db holds several"
            )

    r = ss.add_parser("run", help="run the points of a sweep that are not stored yet")
    common(r, True)
    r.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: CPU count; Dask local: 2)"
    )
    g = r.add_mutually_exclusive_group()
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask distributed scheduler")
    g.add_argument(
        "--dask-local", action="store_true", help="start a Dask LocalCluster with worker processes"
    )
    r.add_argument("--retry-failed", action="store_true", help="run points recorded as failed again")
    r.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="K",
        help="worker deaths before a point is failed (default 3)",
    )
    r.add_argument(
        "--max-points",
        type=int,
        metavar="N",
        help="largest grid accepted (default 1,000,000 or $XBARSIM_SWEEP_MAX_POINTS)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    r.set_defaults(func=run_run)

    s = ss.add_parser("status", help="finished / failed / pending points")
    common(s, False)
    s.add_argument("--errors", action="store_true", help="list the failed points with their error")
    s.set_defaults(func=run_status)

    e = ss.add_parser("export", help="write the results as CSV (one row per point, or a summary)")
    common(e, False)
    e.add_argument("--csv", required=True, metavar="FILE", help="output CSV ('-' for stdout)")
    e.add_argument("--summary", action="store_true", help="mean/std/min/max per metric over trials instead")
    e.set_defaults(func=run_export)

    pl = ss.add_parser("plot", help="error-bar plot of a metric against a parameter")
    common(pl, False)
    pl.add_argument("--x", metavar="PARAM", help="parameter on the x axis (default: the sweep's [plot] x)")
    pl.add_argument(
        "--y",
        metavar="METRIC",
        help="metric on the y axis, or several separated by commas (default: the sweep's [plot] y)",
    )
    pl.add_argument("--by", metavar="PARAM", help="one series per value of this parameter")
    pl.add_argument(
        "--stat", choices=("std", "ci95"), help="error bar: spread of trials (std) or 95%% CI of the mean"
    )
    pl.add_argument(
        "--hist",
        action="store_true",
        help="histogram of the metric over the trials instead (one per --by value)",
    )
    pl.add_argument("--out", "-o", metavar="FILE", help="image file (default: <sweep name>_<metric>.png)")
    pl.set_defaults(func=run_plot)

    x = ss.add_parser("experiments", help="list the experiments and their parameters")
    x.set_defaults(func=run_experiments)


def _db_path(args: argparse.Namespace) -> Path:
    from ..errors import InputError

    if args.db:
        return Path(args.db)
    if getattr(args, "spec", None):
        return Path(Path(args.spec).stem + ".sqlite")
    raise InputError("give a sweep file or --db FILE")


def _open(args: argparse.Namespace, create: bool) -> ResultsStore:
    from ..sweep.store import ResultsStore

    return ResultsStore(_db_path(args), create=create)


def _selected(args: argparse.Namespace, store: ResultsStore) -> list[SweepSpec]:
    """The spec(s) asked for: the sweep file given, or those stored in the results file."""
    from ..errors import InputError
    from ..sweep.spec import load_spec, parse_spec

    # reading results runs nothing: no grid-size limit (the run that stored them had one)
    if args.spec:
        return [load_spec(args.spec, max_points=sys.maxsize)]
    stored = store.sweeps()
    if args.sweep:
        stored = [s for s in stored if s["name"] == args.sweep]
        if not stored:
            names = ", ".join(sorted({s["name"] for s in store.sweeps()})) or "none"
            raise InputError(f"no sweep named {args.sweep!r} in {store.path}; stored: {names}")
    return [
        parse_spec(s["spec"], source=f"stored sweep {s['name']!r}", max_points=sys.maxsize) for s in stored
    ]


def _ids(specs: list[SweepSpec]) -> set[str] | None:
    """The ids of the specs' points (None without specs = every stored point)."""
    return {pid for sp in specs for pid in sp.point_ids()} if specs else None


def run_run(args: argparse.Namespace) -> int:
    from .._validate import check_int
    from ..sweep.executor import check_scheduler_address, run_sweep
    from ..sweep.spec import load_spec

    if args.scheduler:
        check_scheduler_address(args.scheduler)
    for name in ("workers", "max_points"):
        if getattr(args, name) is not None:
            check_int(getattr(args, name), f"--{name.replace('_', '-')}", minimum=1)
    check_int(args.max_attempts, "--max-attempts", minimum=1)
    spec = load_spec(args.spec, max_points=args.max_points)
    if (args.scheduler or args.dask_local) and not getattr(args, "verbose", False):
        import logging

        try:  # importing distributed configures its loggers; quieten them afterwards
            import distributed  # noqa: F401
        except ImportError:
            pass  # run_sweep says how to install it
        # Dask logs every connection at INFO and a lost scheduler as tracebacks; what matters
        # (lost workers, a lost scheduler) is reported by the executor in one line each
        names = ["distributed", "tornado", "asyncio", *logging.root.manager.loggerDict]
        for name in names:
            if name.split(".")[0] in ("distributed", "tornado", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
    with _open(args, create=True) as store:
        report = run_sweep(
            spec,
            store,
            workers=args.workers,
            scheduler=args.scheduler,
            dask_local=args.dask_local,
            retry_failed=args.retry_failed,
            max_attempts=args.max_attempts,
            progress=False if args.no_progress else None,
        )
    print(f"{spec.name}: {report.line()}; results in {_db_path(args)}")
    return 1 if report.failed else 0


def run_status(args: argparse.Namespace) -> int:
    with _open(args, create=False) as store:
        specs = _selected(args, store)
        statuses = store.statuses()
        failed_rows = []
        for spec in specs:
            n = done = failed = 0
            failed_ids = []
            for pid in spec.point_ids():  # streamed: a large grid is never held as a list
                n += 1
                st = statuses.get(pid)
                done += st == "done"
                if st == "failed":
                    failed += 1
                    failed_ids.append(pid)
            print(
                f"{spec.name} ({spec.experiment}): {n} points, {done} done, {failed} failed, "
                f"{n - done - failed} pending"
            )
            if args.errors and failed:
                failed_rows += store.rows(failed_ids)
        if not specs:
            print(f"{store.path}: no sweeps stored ({store.count()} points)")
        for r in failed_rows:
            print(f"  failed {r['id']} {r['params']}: {r['error']}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..sweep.plots import check_output_path, flat_rows, refuse_overwrite, summarize, write_csv

    db = _db_path(args)
    inputs = [db, *(db.with_name(db.name + x) for x in ("-wal", "-shm", "-journal", ".lock"))]
    if args.spec:
        inputs.append(Path(args.spec))
    if args.csv != "-":  # checked before reading anything
        refuse_overwrite(check_output_path(args.csv), inputs)
    with _open(args, create=False) as store:
        ids = _ids(_selected(args, store))
        rows = store.rows(ids)
    cols, flat = summarize(rows) if args.summary else flat_rows(rows)
    out = sys.stdout if args.csv == "-" else None
    if out is not None:
        import csv

        w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(flat)
    else:
        write_csv(args.csv, cols, flat, inputs=inputs)
        print(f"{len(flat)} rows written to {args.csv}", file=sys.stderr)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..sweep.plots import check_plot_path, errorbar_plot, hist_plot

    if args.out:
        check_plot_path(args.out)
    with _open(args, create=False) as store:
        specs = _selected(args, store)
        ids = _ids(specs)
        rows = store.rows(ids)
    defaults = specs[-1].plot if specs else {}
    x = args.x or defaults.get("x")
    y = args.y or defaults.get("y")
    by = args.by or defaults.get("by")
    name = specs[-1].name if specs else "sweep"
    if args.hist:
        if not y:
            raise InputError("say which metric to plot: --y METRIC (or a [plot] table in the sweep file)")
        out = Path(args.out or f"{name}_{y}_hist.png")
        hist_plot(rows, y, out, by=by or x)
        print(f"plot written to {out}")
        return 0
    if not x or not y:
        raise InputError("say what to plot: --x PARAM --y METRIC (or a [plot] table in the sweep file)")
    stat = args.stat or defaults.get("stat", "std")
    out = Path(args.out or f"{name}_{y.split(',')[0]}.png")
    errorbar_plot(rows, x, y, out, by=by, stat=stat, title=defaults.get("title"))
    print(f"plot written to {out}")
    return 0


def run_experiments(args: argparse.Namespace) -> int:
    from ..sweep.experiments import EXPERIMENTS

    for exp in EXPERIMENTS.values():
        print(f"{exp.name}: {exp.doc}")
        print(f"  metrics: {', '.join(exp.metrics)}")
        for k, p in exp.params.items():
            print(f"  {k} ({p.describe()}): {p.doc}")
    return 0
