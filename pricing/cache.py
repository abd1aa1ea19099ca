"""A small SQLite cache of live AWS answers, with a time-to-live per kind.

A cache that cannot be read (a half-written or foreign file) is moved aside and
started afresh with a warning: a cache must never be the reason a command fails.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Seconds each kind of answer stays fresh.
TTL = {
    "specs": 7 * 24 * 3600,
    "ondemand": 24 * 3600,
    "spot": 10 * 60,
    "regions": 24 * 3600,
}
SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dlpick", appauthor=False)) / "prices.sqlite"


@dataclass(frozen=True)
class Cached:
    payload: Any
    fetched_at: float  # epoch seconds
    fresh: bool


class PriceCache:
    """Payloads (JSON) keyed by (kind, key), each stamped with when it was fetched."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path or default_cache_path()
        self.clock = clock
        self.warn = warn or (lambda _msg: None)
        self._conn: sqlite3.Connection | None = None
        # One connection shared by the threads of a multi-region fetch.
        self._lock = threading.RLock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            self._replace(exc)
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                conn.execute("DROP TABLE IF EXISTS entries")
                conn.execute(
                    "CREATE TABLE entries (kind TEXT, key TEXT, fetched_at REAL, payload TEXT,"
                    " PRIMARY KEY (kind, key))"
                )
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.commit()
            conn.execute("SELECT count(*) FROM entries").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _replace(self, exc: Exception) -> None:
        self.warn(f"price cache {self.path} was unreadable ({exc}); starting a new one")
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def get(self, kind: str, key: str, *, allow_stale: bool = False) -> Cached | None:
        """The cached payload, or None when absent (or stale, unless allowed)."""
        try:
            with self._lock:
                row = (
                    self._connect()
                    .execute(
                        "SELECT fetched_at, payload FROM entries WHERE kind=? AND key=?",
                        (kind, key),
                    )
                    .fetchone()
                )
            if row is None:
                return None
            payload = json.loads(row[1])
        except (sqlite3.DatabaseError, ValueError) as exc:
            self._replace(exc)
            return None
        fetched_at = float(row[0])
        fresh = self.clock() - fetched_at < TTL.get(kind, 0)
        if not fresh and not allow_stale:
            return None
        return Cached(payload=payload, fetched_at=fetched_at, fresh=fresh)

    def put(self, kind: str, key: str, payload: Any, *, fetched_at: float | None = None) -> float:
        stamp = self.clock() if fetched_at is None else fetched_at
        text = json.dumps(payload, separators=(",", ":"))
        for attempt in range(2):
            try:
                with self._lock:
                    conn = self._connect()
                    conn.execute(
                        "INSERT OR REPLACE INTO entries (kind, key, fetched_at, payload)"
                        " VALUES (?,?,?,?)",
                        (kind, key, stamp, text),
                    )
                    conn.commit()
                break
            except sqlite3.DatabaseError as exc:
                if attempt:
                    self.warn(f"could not write the price cache ({exc})")
                    break
                self._replace(exc)
        return stamp

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
