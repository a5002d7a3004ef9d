"""Crash-safe, resumable trial store: one SQLite file (WAL mode) per sweep out-dir.

Tables:
  meta        key/value: schema name and version, the current spec hash and spec, spec history
  trials      one row per trial_id: config JSON, cell key, origin (grid / extension), status
              (pending | running | ok | diverged | pruned | failed), result JSON, loss curve JSON, who claimed it
  planned_by  (spec_hash, trial_id): which spec(s) asked for each trial
  events      adaptive-grid decisions and other notes (bounds hit, extensions), in order

Every state change is one transaction, so a killed process leaves either the old or the new state.
A new store is built under a name of its own and linked into place (never replacing one), so two
processes creating one store at once both end up with the same, whole store.
Claiming work is `BEGIN IMMEDIATE` + select + update, so two processes never get the same trial. A
result is written only if its claim still stands, so finished results are never overwritten.
A different spec on an existing store is refused unless forced; forced, the old trials stay (they
are valid facts, keyed by their config hash), the new spec hash is recorded with the history, and
`planned_by` says which spec asked for which trial (export --current-spec keeps only the current one's).
The sweep key (meta `spec_hash`) is the spec's hash, joined to the data's content hash (`hash@data_id`)
for any data but the shipped corpus: new data under the same spec is a new set of trials, not a reuse.

Results are written through a write-ahead log (trials.sqlite-wal) that the run folds back into
trials.sqlite every minute and at its end; readers that cannot write (read-only media) open the file
read-only, or as immutable where SQLite cannot make its shared-memory file.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import time
import uuid
from pathlib import Path

from calibration.record.trial import TrialConfig, TrialResult

SCHEMA = "scaling-advisor/trial-store"
VERSION = 1
STORE_NAME = "trials.sqlite"
FINISHED = ("ok", "diverged", "pruned", "failed")
CANNOT_OPEN = "unable to open database file"  # SQLite's words when it cannot make its -shm/-wal files
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


class StoreWriteError(RuntimeError):
    """Writing to a sound store failed (a full disk, an I/O error): what was recorded before is kept."""


def store_failure(path: Path, exc: Exception) -> RuntimeError:
    """A sqlite error (or an undecodable row) met while using the store at `path`, as one line that says
    what happened to it: StoreWriteError (it cannot take more) or StoreError (locked, damaged)."""
    text = str(exc) if isinstance(exc, sqlite3.Error) else f"a row cannot be decoded: {exc}"
    if isinstance(exc, sqlite3.OperationalError) and ("full" in text or "I/O" in text or "readonly" in text):
        return StoreWriteError(
            f"cannot write to the trial store {path} ({text}; is the disk full or read-only?). Every result "
            "recorded before is kept: free space (or make it writable) and rerun the same command to resume"
        )
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return StoreError(f"the trial store {path} stayed locked by another process ({text}); try again")
    return StoreError(
        f"the trial store {path} is damaged ({text}); it was left as it is. `sqlite3 {path} .recover` "
        "may rescue its intact trials into a new file"
    )


def sweep_key(spec_hash: str, data_id: str = "") -> str:
    """What a store's trials are planned by: the spec, and the data's content unless it is the shipped corpus."""
    return f"{spec_hash}@{data_id}" if data_id else spec_hash


def spec_part(key: str | None) -> str:
    return (key or "").split("@", 1)[0]


def owner_id() -> str:
    """Who claims a trial: host, pid and the process start time (Linux), so that claims of dead
    processes can be spotted even when the pid has been reused."""
    pid = os.getpid()
    start = _process_start(pid)
    return f"{socket.gethostname()}:{pid}" + (f":{start}" if start else "")


class TrialStore:
    """The trial store of one out-dir. Open with `TrialStore.open(dir)` or `TrialStore.create(dir, ...)`."""

    def __init__(self, path: Path, readonly: str = ""):
        """readonly: "" (read-write), "ro" (read-only) or "immutable" (read-only media: no locks, no WAL)."""
        self.path = Path(path)
        self.readonly = readonly
        mode = {"": "", "ro": "?mode=ro", "immutable": "?mode=ro&immutable=1"}[readonly]
        uri = "file:" + _uri_path(self.path) + mode
        self.conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout = 60000")
        self.last_checkpoint = time.monotonic()
        self.data_changed: str | None = None  # set by open_or_create: the key of the data before

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, out_dir: str | Path, readonly: bool = False) -> "TrialStore":
        """Open an existing store, checking that it is one and of this version.

        readonly: for reading only (status, export): nothing is written, so a store on read-only media
        or in a folder without write permission opens too.
        """
        path = Path(out_dir) / STORE_NAME
        if not path.is_file():
            raise StoreError(f"no trial store in {out_dir} (expected {path}); run `advisor calibrate run` first")
        _check_header(path)
        if readonly:
            return cls._open_readonly(path)
        store = cls(path)
        store._check_schema()
        try:
            if store.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                store.conn.execute("PRAGMA journal_mode = WAL")  # a store from before WAL stores: once
        except sqlite3.Error as exc:
            store.close()
            raise store_failure(path, exc) from None
        return store

    @classmethod
    def _open_readonly(cls, path: Path) -> "TrialStore":
        """Read-only; where SQLite cannot make the WAL's shared-memory file (a read-only folder or
        medium, on which nobody can be writing), as an immutable file."""
        store = cls(path, readonly="ro")
        try:
            store._check_schema()
        except StoreError as exc:
            if CANNOT_OPEN not in str(exc):
                raise
            store = cls(path, readonly="immutable")
            store._check_schema()
        return store

    @classmethod
    def open_or_create(cls, out_dir: str | Path, spec_hash: str, spec: dict, force: bool = False) -> "TrialStore":
        """Open the out-dir's store for this sweep key (`sweep_key`), creating it if absent.

        A store made by another spec is refused unless `force`; forced, the new key is recorded. The
        same spec on changed data switches to the new key by itself (`data_changed` says from which).
        """
        out = Path(out_dir)
        path = out / STORE_NAME
        if not path.exists():
            _make_folder(out)
            cls._create(path, spec_hash, spec)  # or another process did, just before: checked as any store
        store = cls.open(out)
        current = store.meta("spec_hash")
        if current != spec_hash:
            same_spec = spec_part(current) == spec_part(spec_hash)
            if not (force or same_spec):
                store.close()
                raise StoreError(
                    f"{out} holds a sweep of another spec (hash {current}, this spec {spec_hash}); "
                    "use another --out, or --allow-other-spec to add this spec's trials to it (old trials are kept)"
                )
            store.switch_spec(spec_hash, spec, reason="data changed" if same_spec else "forced")
            store.data_changed = current if same_spec else None
        return store

    @classmethod
    def _create(cls, path: Path, spec_hash: str, spec: dict) -> None:
        """Build the store under a name of its own, then link it into place: never a half-made store, and
        of two processes creating it at once, the second opens the first's (os.link never replaces)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new")
        store = None
        try:
            store = cls(tmp)
            store.conn.execute("PRAGMA journal_mode = WAL")  # kept in the file: opening never has to switch
            store.conn.executescript(_DDL)
            now = _now()
            with store.transaction():
                for key, value in (("schema", SCHEMA), ("version", str(VERSION)), ("created_at", now),
                                   ("spec_hash", spec_hash), ("spec", json.dumps(spec, sort_keys=True)),
                                   ("spec_history", json.dumps([{"spec_hash": spec_hash, "at": now}]))):
                    store._set_meta(key, value)
            store.close()
            _link_into_place(tmp, path)
        except (OSError, sqlite3.Error) as exc:
            if store is not None:
                store.close()
            raise StoreError(f"cannot create the trial store {path}: {getattr(exc, 'strerror', None) or exc}") from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _check_schema(self) -> None:
        try:
            rows = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
            self.conn.execute("SELECT trial_id, status, config, result, curve FROM trials LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            self.close()
            if isinstance(exc, sqlite3.OperationalError) and CANNOT_OPEN in str(exc):
                raise StoreError(f"cannot open the trial store {self.path} ({exc}): is its folder read-only? "
                                 "`status` and `export` can read it there; a run needs to write") from None
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

    def checkpoint(self, every_s: float = 0.0) -> None:
        """Fold the write-ahead log into trials.sqlite (at most every `every_s` seconds), so that the file
        alone holds the results: copying trials.sqlite then copies every trial. Never blocks on readers."""
        if self.readonly or time.monotonic() - self.last_checkpoint < every_s:
            return
        self.last_checkpoint = time.monotonic()
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

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

    def switch_spec(self, spec_hash: str, spec: dict, reason: str = "forced") -> None:
        with self.transaction():
            history = json.loads(self.meta("spec_history") or "[]")
            history.append({"spec_hash": spec_hash, "at": _now(), "forced": reason == "forced", "reason": reason})
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

    def stale_claims(self, owner: str | None = None) -> list[str]:
        """Running trials whose claimant, a process of this host, no longer runs (killed, lost power).

        Claims of live processes (another sweep on the same store) and of other hosts are not stale.
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
        return stale

    def release_stale(self, owner: str | None = None) -> int:
        """Return to pending the trials claimed by processes of this host that no longer run."""
        stale = self.stale_claims(owner)
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

    def retry_failed(self, spec_hash: str | None = None) -> int:
        """Return failed trials (of one sweep key, or all) to pending; their old error is dropped. Returns how many."""
        sql = "UPDATE trials SET status = 'pending', result = NULL, curve = NULL, claimed_by = NULL WHERE status = 'failed'"
        args: tuple = ()
        if spec_hash:
            sql += " AND trial_id IN (SELECT trial_id FROM planned_by WHERE spec_hash = ?)"
            args = (spec_hash,)
        with self.transaction():
            cur = self.conn.execute(sql, args)
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

    def counts(self, spec_hash: str | None = None) -> dict[str, int]:
        """Trials per state, of one sweep key's trials or of all."""
        sql, args = "SELECT status, COUNT(*) FROM trials", ()
        if spec_hash:
            sql += " WHERE trial_id IN (SELECT trial_id FROM planned_by WHERE spec_hash = ?)"
            args = (spec_hash,)
        out = dict.fromkeys(ALL_STATES, 0)
        out.update(self.conn.execute(sql + " GROUP BY status", args).fetchall())
        return out

    def trials(self, statuses=None, spec_hash: str | None = None, curves: bool = False,
               cell: str | None = None) -> list[dict]:
        """Rows as dicts: trial_id, cell, origin, status, config (TrialConfig), result (TrialResult|None).

        curves: also load the results' loss curves (large; off unless asked). cell: only that cell's trials.
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
        if cell is not None:
            where.append("cell = ?")
            args.append(cell)
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


    def cells_of(self, trial_ids: list[str]) -> dict[str, str]:
        """{trial_id: its cell key} for the given trials."""
        out = {}
        for i in range(0, len(trial_ids), 500):  # SQLite caps the number of parameters of one statement
            chunk = trial_ids[i:i + 500]
            sql = f"SELECT trial_id, cell FROM trials WHERE trial_id IN ({', '.join('?' * len(chunk))})"
            out.update(self.conn.execute(sql, chunk).fetchall())
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
        if exc_type is None:
            self.conn.execute("COMMIT")
            return
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (a full disk): keep the first error
            self.conn.execute("ROLLBACK")


def _check_header(path: Path) -> None:
    """Refuse files that are not SQLite before sqlite3 touches them."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a SQLite trial store (corrupt or foreign file); left untouched")


def _make_folder(out: Path) -> None:
    """Create the out-dir (and its parents), or say in one line why it cannot be."""
    blocking = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise StoreError(f"cannot create the sweep folder {out}: {blocking} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the sweep folder {out}: {exc.strerror or exc}") from None


def _link_into_place(tmp: Path, path: Path) -> None:
    """Make tmp's file appear as path unless path exists (another process made it first: theirs stays)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: rename, which is atomic, unless one appeared meanwhile
        if not path.exists():
            os.rename(tmp, path)


def _uri_path(path: Path) -> str:
    """A path as the path part of a SQLite file: URI (absolute; '?', '#' and '%' escaped)."""
    from urllib.parse import quote

    return quote(str(path.resolve()), safe="/")


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
