"""Crash-safe, resumable trial store: one SQLite file (WAL mode) per sweep out-dir.

Tables:
  meta        key/value: schema name and version, the current spec hash and spec, spec history
  trials      one row per trial_id: config JSON, cell key, origin (grid / extension), status
              (pending | running | ok | diverged | failed), result JSON, loss curve JSON, who claimed it
  planned_by  (spec_hash, trial_id): which spec(s) asked for each trial
  events      adaptive-grid decisions and other notes (bounds hit, extensions), in order

Every state change is one transaction, so a killed process leaves either the old or the new state.
Claiming work is `BEGIN IMMEDIATE` + select + update, so two processes never get the same trial. A
result is written only if its claim still stands, so finished results are never overwritten.
A different spec on an existing store is refused unless forced; forced, the old trials stay (they
are valid facts, keyed by their config hash), the new spec hash is recorded with the history, and
`planned_by` says which spec asked for which trial (export --current-spec keeps only the current one's).
"""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import time
from pathlib import Path

from calibration.sweep.trial import TrialConfig, TrialResult

SCHEMA = "scaling-advisor/trial-store"
VERSION = 1
STORE_NAME = "trials.sqlite"
FINISHED = ("ok", "diverged", "failed")
ALL_STATES = ("pending", "running") + FINISHED

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL UNIQUE,
    cell TEXT NOT NULL,
    origin TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    curve TEXT,
    claimed_by TEXT,
    claimed_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trials_status ON trials(status);
CREATE TABLE planned_by (spec_hash TEXT NOT NULL, trial_id TEXT NOT NULL, PRIMARY KEY (spec_hash, trial_id));
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
                     cell TEXT NOT NULL, detail TEXT NOT NULL, UNIQUE (kind, cell, detail));
"""


class StoreError(RuntimeError):
    """The store cannot be used as asked (corrupt, other version, other spec); the file is untouched."""


def owner_id() -> str:
    """Who claims a trial: host, pid and the process start time (Linux), so that claims of dead
    processes can be spotted even when the pid has been reused."""
    pid = os.getpid()
    start = _process_start(pid)
    return f"{socket.gethostname()}:{pid}" + (f":{start}" if start else "")


class TrialStore:
    """The trial store of one out-dir. Open with `TrialStore.open(dir)` or `TrialStore.create(dir, ...)`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout = 60000")

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, out_dir: str | Path) -> "TrialStore":
        """Open an existing store, checking that it is one and of this version."""
        path = Path(out_dir) / STORE_NAME
        if not path.is_file():
            raise StoreError(f"no trial store in {out_dir} (expected {path}); run `advisor calibrate run` first")
        _check_header(path)
        store = cls(path)
        store._check_schema()
        store.conn.execute("PRAGMA journal_mode = WAL")
        return store

    @classmethod
    def open_or_create(cls, out_dir: str | Path, spec_hash: str, spec: dict, force: bool = False) -> "TrialStore":
        """Open the out-dir's store for this spec, creating it if absent.

        A store made by another spec is refused unless `force`; forced, the new spec hash is recorded.
        """
        out = Path(out_dir)
        path = out / STORE_NAME
        if not path.exists():
            if out.exists() and not out.is_dir():
                raise StoreError(f"{out} exists and is not a directory")
            out.mkdir(parents=True, exist_ok=True)
            return cls._create(path, spec_hash, spec)
        store = cls.open(out)
        current = store.meta("spec_hash")
        if current != spec_hash:
            if not force:
                store.close()
                raise StoreError(
                    f"{out} holds a sweep of another spec (hash {current}, this spec {spec_hash}); "
                    "use another --out, or --force to add this spec's trials to it (old trials are kept)"
                )
            store.switch_spec(spec_hash, spec)
        return store

    @classmethod
    def _create(cls, path: Path, spec_hash: str, spec: dict) -> "TrialStore":
        tmp = path.with_name(path.name + ".new")  # build aside, then rename: never a half-made store
        tmp.unlink(missing_ok=True)
        store = cls(tmp)
        store.conn.executescript(_DDL)
        now = _now()
        with store.transaction():
            store._set_meta("schema", SCHEMA)
            store._set_meta("version", str(VERSION))
            store._set_meta("created_at", now)
            store._set_meta("spec_hash", spec_hash)
            store._set_meta("spec", json.dumps(spec, sort_keys=True))
            store._set_meta("spec_history", json.dumps([{"spec_hash": spec_hash, "at": now}]))
        store.conn.close()
        os.replace(tmp, path)
        store = cls(path)
        store.conn.execute("PRAGMA journal_mode = WAL")
        return store

    def _check_schema(self) -> None:
        try:
            rows = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
            self.conn.execute("SELECT trial_id, status, config, result, curve FROM trials LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path} is not a readable trial store ({exc}); left untouched") from None
        if rows.get("schema") != SCHEMA:
            self.close()
            raise StoreError(f"{self.path} is not a trial store (schema {rows.get('schema')!r}); left untouched")
        if rows.get("version") != str(VERSION):
            self.close()
            raise StoreError(
                f"{self.path} is a trial store of version {rows.get('version')}, this code reads version "
                f"{VERSION}; left untouched"
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- meta ----------------------------------------------------------------------------

    def transaction(self):
        return _Transaction(self.conn)

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def switch_spec(self, spec_hash: str, spec: dict) -> None:
        with self.transaction():
            history = json.loads(self.meta("spec_history") or "[]")
            history.append({"spec_hash": spec_hash, "at": _now(), "forced": True})
            self._set_meta("spec_hash", spec_hash)
            self._set_meta("spec", json.dumps(spec, sort_keys=True))
            self._set_meta("spec_history", json.dumps(history))

    # --- planning ------------------------------------------------------------------------

    def add_trials(self, trials: list[tuple[TrialConfig, str, str]], spec_hash: str | None = None) -> int:
        """Add (config, cell, origin) trials as pending; known trial ids are kept as they are, and
        linked to this spec.

        Returns how many trials or links were new (0: the store already held all of them).
        """
        spec_hash = spec_hash or self.meta("spec_hash")
        before = self.conn.total_changes
        with self.transaction():
            for cfg, cell, origin in trials:
                self.conn.execute(
                    "INSERT OR IGNORE INTO trials (trial_id, cell, origin, config, status) VALUES (?, ?, ?, ?, 'pending')",
                    (cfg.trial_id, cell, origin, json.dumps(cfg.to_dict(), sort_keys=True)),
                )
            self.conn.executemany(
                "INSERT OR IGNORE INTO planned_by (spec_hash, trial_id) VALUES (?, ?)",
                [(spec_hash, cfg.trial_id) for cfg, _, _ in trials],
            )
        return self.conn.total_changes - before

    def add_event(self, kind: str, cell: str, detail: dict) -> None:
        """Record a decision once (the same kind, cell and detail again is ignored)."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO events (at, kind, cell, detail) VALUES (?, ?, ?, ?)",
                (_now(), kind, cell, json.dumps(detail, sort_keys=True)),
            )

    def events(self) -> list[dict]:
        rows = self.conn.execute("SELECT at, kind, cell, detail FROM events ORDER BY id").fetchall()
        return [{"at": a, "kind": k, "cell": c, **json.loads(d)} for a, k, c, d in rows]

    # --- claiming and recording ----------------------------------------------------------

    def release_stale(self, owner: str | None = None) -> int:
        """Return to pending the trials claimed by processes of this host that no longer run.

        Claims of live processes (another sweep on the same store) and of other hosts are left alone.
        """
        host = socket.gethostname()
        stale = []
        for trial_id, claimed_by in self.conn.execute(
            "SELECT trial_id, claimed_by FROM trials WHERE status = 'running'"
        ).fetchall():
            m = re.fullmatch(r"(.*?):(\d+)(?::(\d+))?", claimed_by or "")
            if claimed_by == owner or not m or m.group(1) != host:
                continue
            pid, start = int(m.group(2)), m.group(3)
            if not _pid_alive(pid) or (start and _process_start(pid) != start):
                stale.append(trial_id)
        with self.transaction():
            for trial_id in stale:
                self.conn.execute(
                    "UPDATE trials SET status = 'pending', claimed_by = NULL WHERE trial_id = ? AND status = 'running'",
                    (trial_id,),
                )
        return len(stale)

    def claim(self, owner: str, limit: int = 1, key=None) -> list[TrialConfig]:
        """Atomically mark up to `limit` pending trials as running by `owner` and return them.

        With `key` (a function of TrialConfig), only trials sharing the first pending trial's key are
        taken together (a vectorizable group).
        """
        with self.transaction():
            rows = self.conn.execute(
                "SELECT trial_id, config FROM trials WHERE status = 'pending' ORDER BY seq"
            ).fetchall()
            picked = []
            first_key = None
            for trial_id, config in rows:
                cfg = TrialConfig.from_dict(json.loads(config))
                if key is not None:
                    k = key(cfg)
                    if first_key is None:
                        first_key = k
                    elif k != first_key:
                        continue
                picked.append(cfg)
                if len(picked) >= limit:
                    break
            now = time.time()
            for cfg in picked:
                self.conn.execute(
                    "UPDATE trials SET status = 'running', claimed_by = ?, claimed_at = ?, attempts = attempts + 1 "
                    "WHERE trial_id = ?",
                    (owner, now, cfg.trial_id),
                )
        return picked

    def record(self, result: TrialResult, owner: str) -> bool:
        """Store a finished result if `owner` still holds the claim; returns whether it was stored."""
        if result.status not in FINISHED:
            raise ValueError(f"can only record finished results, got status {result.status!r}")
        d = result.to_dict()
        curve = {"curve": d.pop("curve"), "val_curve": d.pop("val_curve")}
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE trials SET status = ?, result = ?, curve = ?, claimed_by = NULL "
                "WHERE trial_id = ? AND status = 'running' AND claimed_by = ?",
                (result.status, json.dumps(d, sort_keys=True), json.dumps(curve), result.trial_id, owner),
            )
        return cur.rowcount == 1

    def retry_failed(self) -> int:
        """Return failed trials to pending (their old error is dropped); returns how many."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE trials SET status = 'pending', result = NULL, curve = NULL WHERE status = 'failed'"
            )
        return cur.rowcount

    def unclaim(self, trial_ids: list[str], owner: str) -> None:
        """Give claimed trials back (e.g. on a clean interrupt)."""
        with self.transaction():
            for trial_id in trial_ids:
                self.conn.execute(
                    "UPDATE trials SET status = 'pending', claimed_by = NULL "
                    "WHERE trial_id = ? AND status = 'running' AND claimed_by = ?",
                    (trial_id, owner),
                )

    # --- reading -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(ALL_STATES, 0)
        out.update(self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
        return out

    def trials(self, statuses=None, spec_hash: str | None = None, curves: bool = False) -> list[dict]:
        """Rows as dicts: trial_id, cell, origin, status, config (TrialConfig), result (TrialResult|None).

        curves: also load the results' loss curves (large; off unless asked).
        """
        sql = f"SELECT trial_id, cell, origin, status, config, result, {'curve' if curves else 'NULL'} FROM trials"
        args: list = []
        where = []
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += list(statuses)
        if spec_hash:
            where.append("trial_id IN (SELECT trial_id FROM planned_by WHERE spec_hash = ?)")
            args.append(spec_hash)
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = []
        for trial_id, cell, origin, status, config, result, curve in self.conn.execute(sql + " ORDER BY seq", args):
            res = None
            if result:
                res = TrialResult.from_dict({**json.loads(result), **json.loads(curve or "{}")})
            out.append({
                "trial_id": trial_id, "cell": cell, "origin": origin, "status": status,
                "config": TrialConfig.from_dict(json.loads(config)), "result": res,
            })
        return out


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode).

    IMMEDIATE takes the write lock up front, so a read-then-write (a claim) cannot interleave with
    another process's write; waiting for the lock is bounded by the busy timeout.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, *exc):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _check_header(path: Path) -> None:
    """Refuse files that are not SQLite before sqlite3 touches them."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a SQLite trial store (corrupt or foreign file); left untouched")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), or '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
