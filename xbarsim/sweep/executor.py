"""Run a sweep's missing points on a local process pool or a Dask cluster, storing each as it lands.

The driver (this process) is the only writer of the results file; workers only compute. Every
task is :func:`run_point` -- a pure function of (experiment, parameters) that never raises: an
exception inside the experiment comes back as a ``failed`` outcome with its message, so one bad
point cannot stop the sweep.

Losing a worker:

* local pool: a dying worker breaks the whole :class:`~concurrent.futures.ProcessPoolExecutor`.
  The points that were in flight are suspects; the pool is rebuilt and the suspects are run one
  at a time, so a point that kills its worker again is identified and recorded as failed after
  ``max_attempts`` deaths, while the innocent ones just finish.
* Dask: the scheduler re-runs a lost worker's tasks itself; tasks that were on workers that died
  too often end as ``KilledWorker``. Those are run again one at a time, and one that still kills
  its worker when alone is recorded as failed.

Losing the driver (Ctrl-C, SIGKILL): finished rows are already committed; pool workers notice
their parent is gone and exit; the next ``sweep run`` starts where this one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._validate import check_int
from ..errors import InputError, XbarsimError
from .spec import SweepSpec
from .store import ResultsStore

log = logging.getLogger(__name__)


class SchedulerLost(XbarsimError):
    """The Dask scheduler went away during a sweep (finished points are stored)."""


@dataclass(frozen=True)
class SweepReport:
    """What one ``run_sweep`` call did."""

    total: int
    skipped: int
    done: int
    failed: int
    seconds: float

    def line(self) -> str:
        return (
            f"{self.total} points: {self.skipped} already stored, {self.done} done, "
            f"{self.failed} failed in {self.seconds:.1f} s"
        )


def run_point(experiment: str, params: dict[str, Any]) -> dict[str, Any]:
    """Compute one point in a worker; never raises (errors become a 'failed' outcome)."""
    from .experiments import run_experiment

    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = run_experiment(experiment, params)
    except Exception as exc:  # noqa: BLE001 -- recorded with the point, retried on request
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        return {
            "status": "failed",
            "error": f"{_one_line(exc)}{where}",
            "seconds": time.perf_counter() - t0,
            "worker": worker,
        }
    return {"status": "done", "result": result, "seconds": time.perf_counter() - t0, "worker": worker}


def _watch_parent(parent_pid: int) -> None:
    """Pool-worker initializer: exit when the driver is gone (e.g. SIGKILLed) instead of idling on."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="xbarsim-parent-watch").start()


#: One BLAS/OpenMP thread per worker process, as Dask's nanny does: one worker per core without
#: oversubscription, and the same floating-point summation order (hence bit-identical results) on
#: the local pool and on Dask. Variables the user has set are left alone.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@contextlib.contextmanager
def _worker_env() -> Iterator[None]:
    """Set :data:`WORKER_ENV` in os.environ while pool workers are spawned (they copy it)."""
    added = [k for k in WORKER_ENV if k not in os.environ]
    os.environ.update({k: WORKER_ENV[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        width = 0
    if width > 0:
        return tqdm(total=total, desc=desc, unit="pt", dynamic_ncols=True, smoothing=0.1)
    return tqdm(
        total=total, desc=desc, unit="pt", ncols=100, nrows=20, smoothing=0.1
    )  # a pty reporting no size


def run_sweep(
    spec: SweepSpec,
    store: ResultsStore,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
    retry_failed: bool = False,
    max_attempts: int = 3,
    progress: bool | None = None,
    on_point: Callable[[str, dict[str, Any]], None] | None = None,
) -> SweepReport:
    """Run every point of ``spec`` that ``store`` does not have yet; return counts.

    Parameters
    ----------
    workers:
        Local pool size (default: CPU count), or LocalCluster worker processes with ``dask_local``.
    scheduler:
        ``tcp://HOST:PORT`` of a running Dask scheduler; the workers must have xbarsim installed.
    dask_local:
        Start a Dask ``LocalCluster`` with worker processes for this run.
    retry_failed:
        Run points recorded as failed again (otherwise they count as finished).
    progress:
        Progress bar with rate and ETA; default on when stderr is a terminal.
    """
    from .. import __version__

    if scheduler and dask_local:
        raise InputError("give either a Dask scheduler address or --dask-local, not both")
    if workers is not None:
        check_int(workers, "workers", minimum=1)
    check_int(max_attempts, "max_attempts", minimum=1)
    if scheduler:
        check_scheduler_address(scheduler)
    t0 = time.perf_counter()
    with store.run_lock():
        store.record_sweep(spec.spec_hash(), spec.name, spec.experiment, spec.to_dict(), __version__)
        have = store.statuses()

        def wanted(pid: str) -> bool:
            return have.get(pid) != "done" and (retry_failed or pid not in have)

        # two lazy passes (count, then run) instead of a list of every point's parameters
        n_total = n_todo = 0
        for pid in spec.point_ids():
            n_total += 1
            n_todo += wanted(pid)
        todo = _Feed(((pid, p) for pid, p in spec.iter_points() if wanted(pid)), n_todo)
        return _run(
            spec, store, todo, n_total, t0, workers, scheduler, dask_local, max_attempts, progress, on_point
        )


def _run(
    spec: SweepSpec,
    store: ResultsStore,
    todo: _Feed,
    n_total: int,
    t0: float,
    workers: int | None,
    scheduler: str | None,
    dask_local: bool,
    max_attempts: int,
    progress: bool | None,
    on_point: Callable[[str, dict[str, Any]], None] | None,
) -> SweepReport:
    from .. import __version__

    skipped = n_total - len(todo)
    counts = {"done": 0, "failed": 0}
    bar = _progress(len(todo), spec.name, progress)

    def record(pid: str, params: dict[str, Any], outcome: dict[str, Any], attempts: int) -> None:
        store.record_point(
            pid,
            spec.experiment,
            params,
            status=outcome["status"],
            result=outcome.get("result"),
            error=outcome.get("error"),
            attempts=attempts + store.attempts(pid),
            seconds=outcome.get("seconds"),
            worker=outcome.get("worker"),
            version=__version__,
        )
        counts[outcome["status"]] += 1
        if outcome["status"] == "failed":
            log.warning("point %s failed: %s", pid, outcome.get("error"))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=counts["failed"], refresh=False)
        if on_point is not None:
            on_point(pid, outcome)

    log.info("sweep %s: %d points, %d already stored, %d to run", spec.name, n_total, skipped, len(todo))
    try:
        if todo:
            if scheduler or dask_local:
                _run_dask(spec, todo, record, workers, scheduler, dask_local)
            else:
                _run_pool(spec, todo, record, workers or os.cpu_count() or 1, max_attempts)
    finally:
        if bar is not None:
            bar.close()
    return SweepReport(n_total, skipped, counts["done"], counts["failed"], time.perf_counter() - t0)


class _Feed:
    """The points still to submit: a lazy iterator with a known length and a push-back front."""

    def __init__(self, items: Iterator[tuple[str, dict[str, Any]]], n: int) -> None:
        self._items = items
        self._front: deque[tuple[str, dict[str, Any]]] = deque()
        self._left = n

    def __len__(self) -> int:
        return self._left if self else 0

    def __bool__(self) -> bool:
        if not self._front:
            try:  # peek: the count is from a first pass, the iterator is the truth
                self._front.append(next(self._items))
            except StopIteration:
                self._left = 0
                return False
        return True

    def popleft(self) -> tuple[str, dict[str, Any]]:
        if not self:
            raise IndexError("no points left")
        self._left = max(self._left - 1, 0)
        return self._front.popleft()

    def appendleft(self, item: tuple[str, dict[str, Any]]) -> None:
        self._left += 1
        self._front.appendleft(item)


def _run_pool(
    spec: SweepSpec,
    todo: _Feed,
    record: Callable[[str, dict[str, Any], dict[str, Any], int], None],
    workers: int,
    max_attempts: int,
) -> None:
    import multiprocessing

    suspects: deque[tuple[str, dict[str, Any]]] = deque()
    deaths: dict[str, int] = {}
    ctx = multiprocessing.get_context("spawn")

    with _worker_env():
        _pool_loop(spec, todo, suspects, deaths, record, workers, max_attempts, ctx)


def _pool_loop(
    spec: SweepSpec,
    queue: _Feed,
    suspects: deque[tuple[str, dict[str, Any]]],
    deaths: dict[str, int],
    record: Callable[[str, dict[str, Any], dict[str, Any], int], None],
    workers: int,
    max_attempts: int,
    ctx: Any,
) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    lost: dict[str, int] = {}  # runs of a point that ended with its worker's death (for `attempts`)
    while queue or suspects:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(queue) + len(suspects)),
            mp_context=ctx,
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )
        inflight: dict[Any, tuple[str, dict[str, Any]]] = {}
        broken = False
        try:
            while (queue or suspects or inflight) and not broken:
                # suspects of a crash run alone, so a further crash is attributable to one point
                source: _Feed | deque[tuple[str, dict[str, Any]]] = suspects if suspects else queue
                limit = 1 if suspects else 2 * workers
                while source and len(inflight) < limit:
                    pid, params = source.popleft()
                    try:
                        inflight[pool.submit(run_point, spec.experiment, params)] = (pid, params)
                    except BrokenProcessPool:  # a worker died since the last wait
                        source.appendleft((pid, params))
                        broken = True
                        break
                if broken:
                    break
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pid, params = inflight.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = (pid, params)  # handled below with the other casualties
                        continue
                    deaths.pop(pid, None)
                    record(pid, params, outcome, 1 + lost.pop(pid, 0))
        except BaseException:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()  # else exit waits for running points; their ngspice dies with them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        if broken:
            casualties = list(inflight.values())
            log.warning(
                "a worker process died; %d point(s) in flight will be re-run one by one", len(casualties)
            )
            lone = len(casualties) == 1
            for pid, params in casualties:
                lost[pid] = lost.get(pid, 0) + 1
                if lone:
                    deaths[pid] = deaths.get(pid, 0) + 1
                if deaths.get(pid, 0) >= max_attempts:
                    record(
                        pid,
                        params,
                        {
                            "status": "failed",
                            "error": f"worker process died {deaths.pop(pid)} times running this point alone "
                            f"({lost[pid]} runs in all)",
                        },
                        lost.pop(pid),
                    )
                else:
                    suspects.append((pid, params))
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    spec: SweepSpec,
    todo: _Feed,
    record: Callable[[str, dict[str, Any], dict[str, Any], int], None],
    workers: int | None,
    scheduler: str | None,
    dask_local: bool,
) -> None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("Dask is not installed: pip install 'xbarsim[sweep]'") from None

    cluster = None
    if dask_local:
        cluster = LocalCluster(
            n_workers=workers or 2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except Exception as exc:  # noqa: BLE001 -- OSError, TimeoutError, ValueError for a bad address...
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {_one_line(exc)}") from None
    try:
        _dask_loop(client, spec, todo, record)
    except Exception as exc:  # our own errors pass; the rest is a lost connection
        if isinstance(exc, XbarsimError) or client.status == "running":
            raise
        raise SchedulerLost(
            f"lost the Dask scheduler{f' at {scheduler}' if scheduler else ''} ({type(exc).__name__}); "
            "finished points are stored, run the sweep again to go on"
        ) from None
    finally:
        with contextlib.suppress(Exception):  # closing a client whose scheduler is gone may raise too
            client.close(timeout=5)
        if cluster is not None:
            cluster.close()


_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[^\s/:]+:\d{1,5}$")


def check_scheduler_address(address: str) -> str:
    """``tcp://HOST:PORT`` (or another Dask protocol) with a port in 1..65535; InputError otherwise."""
    m = _ADDRESS.match(address)
    if not m or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise InputError(f"Dask scheduler address must look like tcp://HOST:PORT, got {address!r}")
    return address


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or '(no message)'}"


def _dask_loop(
    client: Any,
    spec: SweepSpec,
    todo: _Feed,
    record: Callable[[str, dict[str, Any], dict[str, Any], int], None],
) -> None:
    """Keep a window of tasks in flight on ``client``, recording each as it lands."""
    from distributed import wait

    n_slots = max(1, sum(client.nthreads().values()))
    window = max(2 * n_slots, 4)
    queue = todo
    solo: deque[tuple[str, dict[str, Any]]] = deque()
    lost: dict[str, int] = {}
    inflight: dict[Any, tuple[str, dict[str, Any], bool]] = {}

    def submit(pid: str, params: dict[str, Any], alone: bool) -> None:
        key = f"xbarsim-{spec.experiment}-{pid}" + ("-alone" if alone else "")
        fut = client.submit(run_point, spec.experiment, params, key=key, retries=0)
        inflight[fut] = (pid, params, alone)

    while queue or solo or inflight:
        if solo:
            # a point whose worker died next to others runs again alone, so the verdict is its own
            if not inflight:
                submit(*solo.popleft(), True)
        else:
            while queue and len(inflight) < window:
                submit(*queue.popleft(), False)
        done, _ = wait(list(inflight), return_when="FIRST_COMPLETED")
        for fut in done:
            pid, params, alone = inflight.pop(fut)
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 -- KilledWorker etc.; the task itself never raises
                if not alone:  # KilledWorker, a cancelled future after a lost worker...
                    log.warning(
                        "point %s was lost with its worker (%s); running it again alone",
                        pid,
                        type(exc).__name__,
                    )
                    solo.append((pid, params))
                    lost[pid] = lost.get(pid, 0) + 1
                    fut.release()
                    continue
                outcome = {
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                }
            record(pid, params, outcome, 1 + lost.pop(pid, 0))
            fut.release()
