"""Results store: SQLite, one row per finished point, each committed in its own transaction.

Why this survives a killed driver: a row is written by a single ``INSERT OR REPLACE`` inside one
transaction, and SQLite's write-ahead log (WAL) makes a transaction either fully present or
absent after a crash -- there is no half-written row. Points that had not finished are simply
absent and are run again by the next ``sweep run``; points are keyed by their id, so none can
appear twice.

Tables:

* ``sweeps``: every spec run against this file (JSON), with the xbarsim version and time.
* ``points``: ``id`` (hash of experiment + complete parameters), ``experiment``, ``params`` (JSON),
  ``status`` (``done`` | ``failed``), ``result`` (JSON metrics), ``error``, ``attempts``,
  ``seconds``, ``worker`` (host:pid), ``version``, ``finished`` (UTC ISO time).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from ..errors import InputError, XbarsimError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    spec_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    spec TEXT NOT NULL,
    version TEXT NOT NULL,
    created TEXT NOT NULL,
    last_run TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    seconds REAL,
    worker TEXT,
    version TEXT NOT NULL,
    finished TEXT NOT NULL
);
"""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class StoreBusy(XbarsimError):
    """Another ``sweep run`` holds the results file (see :meth:`ResultsStore.run_lock`)."""


_TABLES = {"meta", "sweeps", "points"}


class ResultsStore:
    """One SQLite results file. Open with ``ResultsStore(path)``; close with :meth:`close`.

    ``create=False`` opens an existing file read-only: nothing is written to it (no schema, no
    journal-mode change), so ``status``/``export``/``plot`` work on a read-only file or folder.
    Either way a file that is not an xbarsim results file is refused in one line.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.read_only = not create
        if not create and not self.path.exists():
            raise InputError(f"results file not found: {self.path}")
        if self.path.is_dir():
            raise InputError(f"results file is a directory: {self.path}")
        if create:
            folder = self.path.parent
            writable = os.access(self.path, os.W_OK) if self.path.exists() else os.access(folder, os.W_OK)
            if not writable or not os.access(folder, os.W_OK | os.X_OK):  # SQLite needs -wal/-shm there
                raise InputError(
                    f"results file {self.path} is not writable here (its folder must be writable too); "
                    "status, export and plot can still read it"
                )
        try:
            self._db = self._connect()
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and not _TABLES <= tables:
                raise InputError(
                    f"{self.path}: not an xbarsim results file (it holds tables {', '.join(sorted(tables))})"
                )
            if not tables and self.read_only:
                raise InputError(f"{self.path}: not an xbarsim results file (no tables)")
            if tables:
                self._check_version()
            if not self.read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                if not tables:
                    self._db.executescript(_SCHEMA)
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a usable results file ({exc})") from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we open every transaction ourselves (BEGIN IMMEDIATE ... COMMIT)
        if not self.read_only:
            return sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # a WAL file in a read-only folder: its -shm index cannot be created; nobody can be
            # writing there, so reading the file as immutable is safe
            db.close()
            return sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None)

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise InputError(f"{self.path}: not an xbarsim results file (no schema version)")
        if int(row[0]) > SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: results file of a newer xbarsim (schema {row[0]} > {SCHEMA_VERSION})"
            )

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[None]:
        """Exclusive right to run sweeps on this file: one ``sweep run`` at a time per results file.

        An advisory ``flock`` on ``<file>.lock`` (released by the kernel when the process dies, so
        a killed run never leaves a stale lock); a second run fails at once with :class:`StoreBusy`
        naming the holder, instead of computing every point a second time.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise StoreBusy(
                    f"{self.path} is in use by another 'sweep run' ({holder}); wait for it to finish "
                    "or give another --db"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n")
            fh.flush()
            yield

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------
    def record_sweep(
        self, spec_hash: str, name: str, experiment: str, spec: dict[str, Any], version: str
    ) -> None:
        now = _now()
        with self._transaction():
            self._db.execute(
                "INSERT INTO sweeps (spec_hash, name, experiment, spec, version, created, last_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(spec_hash) "
                "DO UPDATE SET last_run = excluded.last_run, version = excluded.version",
                (spec_hash, name, experiment, json.dumps(spec, sort_keys=True), version, now, now),
            )

    def record_point(
        self,
        point_id: str,
        experiment: str,
        params: dict[str, Any],
        *,
        status: str,
        result: dict[str, float] | None = None,
        error: str | None = None,
        attempts: int = 1,
        seconds: float | None = None,
        worker: str | None = None,
        version: str,
    ) -> None:
        """Write one finished (or failed) point atomically; a 'done' row is never downgraded."""
        if status not in ("done", "failed"):
            raise InputError(f"point status must be 'done' or 'failed', got {status!r}")
        with self._transaction():
            row = self._db.execute("SELECT status FROM points WHERE id = ?", (point_id,)).fetchone()
            if row is not None and row[0] == "done":
                return
            self._db.execute(
                "INSERT OR REPLACE INTO points (id, experiment, params, status, result, error, attempts, "
                "seconds, worker, version, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    point_id,
                    experiment,
                    json.dumps(params, sort_keys=True),
                    status,
                    None if result is None else json.dumps(result, sort_keys=True),
                    error,
                    int(attempts),
                    seconds,
                    worker,
                    version,
                    _now(),
                ),
            )

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # locked past the timeout, read-only, disk full...
                raise InputError(f"cannot write the results file: {exc}") from None

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.db.execute("ROLLBACK" if exc_type else "COMMIT")
            except sqlite3.OperationalError as exc:
                if not exc_type:
                    raise InputError(f"cannot write the results file: {exc}") from None

    def _transaction(self) -> ResultsStore._Tx:
        return ResultsStore._Tx(self._db)

    # -- reading ----------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """``{point id: status}`` of every recorded point."""
        return dict(self._db.execute("SELECT id, status FROM points").fetchall())

    def attempts(self, point_id: str) -> int:
        row = self._db.execute("SELECT attempts FROM points WHERE id = ?", (point_id,)).fetchone()
        return int(row[0]) if row else 0

    def rows(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Recorded points as dicts (params and result decoded), in finishing order."""
        cur = self._db.execute(
            "SELECT id, experiment, params, status, result, error, attempts, seconds, worker, version, "
            "finished FROM points ORDER BY rowid"
        )
        wanted = None if ids is None else set(ids)
        out = []
        for r in cur.fetchall():
            if wanted is not None and r[0] not in wanted:
                continue
            out.append(
                {
                    "id": r[0],
                    "experiment": r[1],
                    "params": json.loads(r[2]),
                    "status": r[3],
                    "result": json.loads(r[4]) if r[4] else {},
                    "error": r[5],
                    "attempts": r[6],
                    "seconds": r[7],
                    "worker": r[8],
                    "version": r[9],
                    "finished": r[10],
                }
            )
        return out

    def sweeps(self) -> list[dict[str, Any]]:
        """The specs run against this file, oldest first."""
        cur = self._db.execute(
            "SELECT spec_hash, name, experiment, spec, version, created, last_run FROM sweeps "
            "ORDER BY created"
        )
        return [
            {
                "spec_hash": h,
                "name": n,
                "experiment": e,
                "spec": json.loads(s),
                "version": v,
                "created": c,
                "last_run": lr,
            }
            for h, n, e, s, v, c, lr in cur.fetchall()
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0])
