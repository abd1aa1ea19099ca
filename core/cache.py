"""A small SQLite cache of live AWS answers, with a time-to-live per kind.

A cache must never be the reason a command fails. A file that is not a SQLite
database (half-written, foreign) is replaced with a warning. A cache that can be
read but not written (a read-only file system, a file the user may not write) is
opened read-only: what it holds is used, and one warning says it cannot be updated.
A cache that cannot be opened at all (a file where its folder should be), or that
fails mid-run (full disk), is left alone and the run goes on without it, with one
warning.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from dlpick.core.locations import price_cache_file

T = TypeVar("T")

# Seconds each kind of answer stays fresh.
TTL = {
    "specs": 7 * 24 * 3600,
    "ondemand": 24 * 3600,
    "sagemaker": 24 * 3600,
    "spot": 10 * 60,
    # Spot placement scores move with spot capacity: as fresh as spot prices.
    "placement": 10 * 60,
    # A spot price history over days: an hour older changes little of it.
    "spot-history": 3600,
    "placement-az": 10 * 60,
    # Capacity Block offerings come and go as blocks are bought.
    "capacity-blocks": 10 * 60,
    "regions": 24 * 3600,
    "advisor": 24 * 3600,
    # A feed that could not be read is not asked again for an hour, so a blocked URL
    # costs one time-out an hour, not one a run.
    "advisor-failure": 3600,
}
# 2: entries are kept per scope (whose answers they are: profile and endpoints).
SCHEMA_VERSION = 2
_COLUMNS = "scope, kind, key, fetched_at, payload"
# SQLite's own words for "this file is not a (sound) database": only these replace it.
# Anything else (cannot open, read-only, full, locked, I/O) says nothing about the
# file's content, so it is kept and the run works without the cache.
_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _CORRUPT


# The endpoints the cached kinds come from (specs, spot, regions: EC2; on-demand:
# Pricing), as boto3 reads them from the environment.
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_PRICING")


def cache_scope(profile: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Whose answers these are: the profile and the endpoints in effect, read offline.

    Entries are kept per scope, so a run against another endpoint (a local
    emulator) or another profile never shows in this one's prices. The account id
    would be more precise but costs an STS call on every run; a profile names one
    account in practice.
    """
    environ = os.environ if environ is None else environ
    profile = profile or environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE")
    parts = [f"profile={profile or 'default'}"]
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        parts += [f"{name}={environ[name]}" for name in _ENDPOINT_VARIABLES if environ.get(name)]
    return " ".join(parts)


# The scope of a run with the default profile and AWS's own endpoints.
DEFAULT_SCOPE = cache_scope(None, {})


@dataclass(frozen=True)
class Cached:
    payload: Any
    fetched_at: float  # epoch seconds
    fresh: bool


class PriceCache:
    """Payloads (JSON) keyed by (scope, kind, key), each stamped with when it was fetched.

    A scope (`cache_scope`) says whose answers an entry holds, so
    runs against other endpoints or profiles never read each other's entries.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.path = path or price_cache_file()
        self.clock = clock
        self.warn = warn or (lambda _msg: None)
        self.timeout = timeout  # seconds to wait for another dlpick's write to end
        self._conn: sqlite3.Connection | None = None
        # Why the cache is off for the rest of this run, once it is.
        self.unavailable: str | None = None
        # Why the cache is read, never written, in this run, when it cannot be written.
        self.read_only: str | None = None
        # One connection shared by the threads of a multi-region fetch.
        self._lock = threading.RLock()

    def _connect(self) -> sqlite3.Connection | None:
        """The open cache, or None when this run works without it."""
        if self._conn is not None or self.unavailable is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc):
                    raise
                if self._replace(exc):
                    self._conn = self._open()
        except (OSError, sqlite3.Error) as exc:
            self._conn = self._open_read_only(exc)
            if self._conn is None:
                self._give_up(exc)
        return self._conn

    def _open_read_only(self, exc: OSError | sqlite3.Error) -> sqlite3.Connection | None:
        """The cache opened for reading when it cannot be opened for writing, saying so
        once; None when it cannot be read either (or is not this version's)."""
        if not self.path.is_file():
            return None
        uri = self.path.absolute().as_uri()
        # mode=ro reads a database others may still write; on a read-only file system
        # SQLite cannot make the files WAL mode needs, and immutable (which is then
        # true) reads without them.
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"{uri}?{query}", uri=True, timeout=self.timeout, check_same_thread=False
                )
            except sqlite3.Error:
                continue
            try:
                usable = conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
                usable = usable and self._has_table(conn)
            except sqlite3.Error:
                conn.close()
                continue
            if not usable:
                conn.close()
                return None
            self.read_only = _why(exc, self.path)
            self.warn(
                f"price cache {self.path} cannot be updated ({self.read_only}): using what it holds"
            )
            return conn
        return None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION or not self._has_table(conn):
                conn.execute("DROP TABLE IF EXISTS entries")
                conn.execute(
                    "CREATE TABLE entries (scope TEXT, kind TEXT, key TEXT, fetched_at REAL,"
                    " payload TEXT, PRIMARY KEY (scope, kind, key))"
                )
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.commit()
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @staticmethod
    def _has_table(conn: sqlite3.Connection) -> bool:
        """The entries table exists with this version's columns (not another program's)."""
        try:
            conn.execute(f"SELECT {_COLUMNS} FROM entries LIMIT 0")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_ERROR:
                raise
            return False
        return True

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _replace(self, exc: sqlite3.Error) -> bool:
        """Start a new cache in place of one that is not a database; False if that failed."""
        self.warn(f"price cache {self.path} was unreadable ({exc}); starting a new one")
        self._close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as err:
                self._give_up(err)
                return False
        return True

    def _give_up(self, exc: OSError | sqlite3.Error) -> None:
        """Work without the cache for the rest of this run, saying why once."""
        self._close()
        why = f"{getattr(exc, 'filename', None) or self.path}: {_why(exc, self.path)}"
        self.unavailable = why
        self.warn(f"price cache unavailable ({why}): working without it")

    def _failed(self, exc: sqlite3.Error) -> bool:
        """Handle a failed statement; True when it is worth trying once more."""
        if _is_corrupt(exc):
            return self._replace(exc)
        code = getattr(exc, "sqlite_errorcode", 0) or 0
        if code & 0xFF == sqlite3.SQLITE_READONLY and self.read_only is None:
            # SQLite opened it read-only by itself: keep reading, stop writing.
            self.read_only = _why(exc, self.path)
            self.warn(
                f"price cache {self.path} cannot be updated ({self.read_only}): using what it holds"
            )
            return False
        self._give_up(exc)
        return False

    def get(
        self,
        kind: str,
        key: str,
        *,
        allow_stale: bool = False,
        valid: Callable[[Any], bool] | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> Cached | None:
        """The cached payload, or None when absent (or stale, unless allowed).

        A payload that is not JSON, or that `valid` refuses, is dropped with a warning
        and reads as absent, so the caller fetches (and stores) it again.
        """
        row = self._with_conn(
            lambda conn: conn.execute(
                "SELECT fetched_at, payload FROM entries WHERE scope=? AND kind=? AND key=?",
                (scope, kind, key),
            ).fetchone()
        )
        if row is None:
            return None
        fetched_at, payload, readable = 0.0, None, True
        try:
            fetched_at = float(row[0])
            payload = json.loads(row[1])
            readable = math.isfinite(fetched_at)
        except (TypeError, ValueError):
            readable = False
        if not readable or (valid is not None and not valid(payload)):
            self.warn(f"the cached {kind} entry for {key} was malformed; rebuilding it")
            self.drop(kind, key, scope=scope)
            return None
        fresh = self.clock() - fetched_at < TTL.get(kind, 0)
        if not fresh and not allow_stale:
            return None
        return Cached(payload=payload, fetched_at=fetched_at, fresh=fresh)

    def drop(self, kind: str, key: str, *, scope: str = DEFAULT_SCOPE) -> None:
        """Forget one entry (one found malformed, so the next fetch rebuilds it)."""
        self._write("DELETE FROM entries WHERE scope=? AND kind=? AND key=?", (scope, kind, key))

    def put(
        self,
        kind: str,
        key: str,
        payload: Any,
        *,
        fetched_at: float | None = None,
        scope: str = DEFAULT_SCOPE,
    ) -> float:
        stamp = self.clock() if fetched_at is None else fetched_at
        text = json.dumps(payload, separators=(",", ":"))
        self._write(
            f"INSERT OR REPLACE INTO entries ({_COLUMNS}) VALUES (?,?,?,?,?)",
            (scope, kind, key, stamp, text),
        )
        return stamp

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if self.read_only is not None:
                return  # said once, when it was found
            conn.execute(sql, params)
            conn.commit()

        self._with_conn(write)

    def _with_conn(self, action: Callable[[sqlite3.Connection], T]) -> T | None:
        """`action` on the open cache; None when the run works without the cache."""
        with self._lock:
            for _attempt in range(2):
                conn = self._connect()
                if conn is None:
                    return None
                try:
                    return action(conn)
                except sqlite3.Error as exc:
                    if not self._failed(exc):
                        return None
        return None

    def close(self) -> None:
        with self._lock:
            self._close()


def _why(exc: OSError | sqlite3.Error, path: Path) -> str:
    """Why the cache could not be opened or written: the file system's reason when the
    file cannot be opened for writing ('Read-only file system', 'Permission denied'),
    which SQLite words only as 'unable to open database file'."""
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    if path.is_file():
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as refused:
            return str(refused.strerror or exc)
    return str(exc)


def iso(epoch: float) -> str:
    """A fetch time (seconds since the epoch) as the UTC timestamp every as-of carries."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
