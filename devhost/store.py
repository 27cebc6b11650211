"""SQLite persistence for devhost: orchestration instances, history, inbox messages, activity work, Event Grid
deliveries.

One writer (the engine thread) owns the write connection; HTTP handlers read through their own connections (WAL
lets readers run while the writer commits). Every engine step commits once, so a step is all-or-nothing across a
`kill -9`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    parent TEXT,
    engine TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    visible_at REAL NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_instance ON messages(instance_id);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS eg_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    subscription TEXT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open the state database in WAL mode (autocommit off is handled by explicit BEGIN in callers)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """The devhost state database: a write connection (engine thread) plus per-thread read connections."""

    def __init__(self, state_dir: Path, synchronous: str = "NORMAL") -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "devhost.sqlite3"
        self.synchronous = synchronous
        self.writer = connect(self.path, synchronous)
        self.writer.executescript(SCHEMA)
        self._local = threading.local()

    def reader(self) -> sqlite3.Connection:
        """A read connection private to the calling thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.synchronous)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self.writer.close()

    # ---- meta -------------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.writer.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.writer.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ---- reads used by the HTTP API ---------------------------------------------------------------------------
    def read_instance(self, instance_id: str) -> dict[str, Any] | None:
        cur = self.reader().execute(
            "SELECT id, name, execution_id, status, input, output, custom_status, created, updated, parent "
            "FROM instances WHERE id=?",
            (instance_id,),
        )
        row = cur.fetchone()
        return _instance_row(row) if row else None

    def read_history(self, instance_id: str) -> list[dict[str, Any]]:
        cur = self.reader().execute("SELECT event FROM history WHERE instance_id=? ORDER BY seq", (instance_id,))
        return [json.loads(r[0]) for r in cur.fetchall()]

    def query_instances(
        self,
        statuses: list[str] | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        prefix: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, name, execution_id, status, input, output, custom_status, created, updated, parent "
            "FROM instances WHERE 1=1"
        )
        args: list[Any] = []
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args += statuses
        if created_from is not None:
            sql += " AND created >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created <= ?"
            args.append(created_to)
        if prefix:
            sql += " AND substr(id, 1, ?) = ?"
            args += [len(prefix), prefix]
        sql += " ORDER BY created"
        return [_instance_row(r) for r in (conn or self.reader()).execute(sql, args).fetchall()]


def _instance_row(row: tuple) -> dict[str, Any]:
    keys = ("id", "name", "execution_id", "status", "input", "output", "custom_status", "created", "updated", "parent")
    return dict(zip(keys, row, strict=True))
