"""The session index: one SQLite file (stdlib sqlite3) listing sessions and analysis results.

The index is a cache of the session folders: `rebuild()` recreates it from their session.json
files, so a lost or damaged index never loses a recording. Each call opens its own short
connection, so a deleted data folder is recreated on the next write instead of writing into an
unlinked file.

Other areas add results with `add_result(session_id, kind, payload, value=, unit=)` and read
them with `results(...)`; `kind` is a short name such as "munix" or "muap_count_index".
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muwatch.errors import StorageError
from muwatch.session.journal import make_private_dir
from muwatch.session.meta import iso, utc_now

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    muscle TEXT,
    task TEXT,
    status TEXT NOT NULL,
    started_utc TEXT,
    duration_s REAL,
    sample_rate REAL,
    n_channels INTEGER,
    n_samples INTEGER,
    lost_samples INTEGER,
    gaps INTEGER,
    backfilled_samples INTEGER,
    drift_ppm REAL,
    jitter_us REAL,
    device_serial TEXT,
    firmware TEXT,
    path TEXT NOT NULL,
    bdf TEXT,
    updated_utc TEXT NOT NULL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject, started_utc);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    value REAL,
    unit TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_session ON results (session_id, kind);
"""

_COLUMNS = (
    "id",
    "subject",
    "muscle",
    "task",
    "status",
    "started_utc",
    "duration_s",
    "sample_rate",
    "n_channels",
    "n_samples",
    "lost_samples",
    "gaps",
    "backfilled_samples",
    "drift_ppm",
    "jitter_us",
    "device_serial",
    "firmware",
    "path",
    "bdf",
    "updated_utc",
)


@dataclass(frozen=True)
class SessionRow:
    id: str
    subject: str
    muscle: str | None
    task: str | None
    status: str
    started_utc: str | None
    duration_s: float | None
    sample_rate: float | None
    n_channels: int | None
    n_samples: int | None
    lost_samples: int | None
    gaps: int | None
    backfilled_samples: int | None
    drift_ppm: float | None
    jitter_us: float | None
    device_serial: str | None
    firmware: str | None
    path: str
    bdf: str | None
    updated_utc: str

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in _COLUMNS}


@dataclass(frozen=True)
class ResultRow:
    id: int
    session_id: str
    kind: str
    created_utc: str
    value: float | None
    unit: str | None
    payload: dict[str, Any]


class SessionIndex:
    """Sessions and results in `<data dir>/index.sqlite` (file mode 0600)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            make_private_dir(self.path.parent)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            con = sqlite3.connect(self.path, timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the session index {self.path}: {exc}") from exc
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.executescript(_SCHEMA)
            con.execute(
                "INSERT OR IGNORE INTO info (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            yield con
            con.commit()
        except sqlite3.DatabaseError as exc:
            con.rollback()
            raise StorageError(
                f"the session index {self.path} failed ({exc}); rebuild it with "
                "`muwatch sessions --rebuild` (recordings are not affected)"
            ) from exc
        finally:
            con.close()

    # -- sessions ---------------------------------------------------------------------------
    def upsert(self, summary: dict[str, Any], path: Path | str) -> None:
        """Insert or update a session from its summary (session.json contents)."""
        meta = summary.get("meta") or {}
        device = meta.get("device") or {}
        row = {
            "id": summary["session_id"],
            "subject": summary.get("subject") or meta.get("subject") or "",
            "muscle": summary.get("muscle") or meta.get("muscle"),
            "task": summary.get("task") or meta.get("task"),
            "status": summary.get("status", "unknown"),
            "started_utc": summary.get("started_utc") or meta.get("created_utc"),
            "duration_s": summary.get("duration_s"),
            "sample_rate": summary.get("sample_rate") or meta.get("sample_rate"),
            "n_channels": summary.get("n_channels") or len(meta.get("channel_labels") or []),
            "n_samples": summary.get("n_samples"),
            "lost_samples": summary.get("lost_samples"),
            "gaps": len(summary["gaps"]) if "gaps" in summary else None,
            "backfilled_samples": summary.get("backfilled_samples"),
            "drift_ppm": summary.get("drift_ppm"),
            "jitter_us": summary.get("jitter_us"),
            "device_serial": device.get("serial"),
            "firmware": device.get("firmware"),
            "path": str(path),
            "bdf": (summary.get("files") or {}).get("bdf"),
            "updated_utc": iso(utc_now()),
        }
        slim = {k: v for k, v in summary.items() if k not in ("annotations", "meta")}
        cols = ", ".join((*row.keys(), "summary"))
        marks = ", ".join("?" for _ in range(len(row) + 1))
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*row.keys(), "summary") if c != "id")
        with self._connect() as con:
            con.execute(
                f"INSERT INTO sessions ({cols}) VALUES ({marks}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                (*row.values(), json.dumps(slim)),
            )

    def get(self, session_id: str) -> SessionRow | None:
        with self._connect() as con:
            cur = con.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM sessions WHERE id = ?", (session_id,)
            )
            r = cur.fetchone()
        return SessionRow(*r) if r else None

    def summary(self, session_id: str) -> dict[str, Any] | None:
        """The stored summary (without annotations) of a session."""
        with self._connect() as con:
            r = con.execute("SELECT summary FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return json.loads(r[0]) if r and r[0] else None

    def find(
        self,
        *,
        subject: str | None = None,
        muscle: str | None = None,
        task: str | None = None,
        status: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[SessionRow]:
        """Sessions matching every given filter, oldest first (since/until: ISO dates)."""
        where, args = [], []
        for col, val in (("subject", subject), ("muscle", muscle), ("task", task)):
            if val is not None:
                where.append(f"{col} = ? COLLATE NOCASE")
                args.append(val)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if since is not None:
            where.append("started_utc >= ?")
            args.append(since)
        if until is not None:
            where.append("started_utc < ?")
            args.append(until)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_utc, id"
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        return [SessionRow(*r) for r in rows]

    def remove(self, session_id: str) -> None:
        with self._connect() as con:
            con.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def rebuild(self, sessions_dir: Path) -> int:
        """Re-read every session folder's session.json; returns how many were indexed."""
        from muwatch.session.store import read_summary

        n = 0
        seen = set()
        if Path(sessions_dir).is_dir():
            for folder in sorted(Path(sessions_dir).iterdir()):
                try:
                    summary = read_summary(folder)
                except Exception:
                    summary = None
                if summary is None:
                    if (folder / "journal.mwj").exists():
                        summary = {"session_id": folder.name, "status": "interrupted"}
                    else:
                        continue
                self.upsert(summary, folder)
                seen.add(summary["session_id"])
                n += 1
        with self._connect() as con:
            for (sid,) in con.execute("SELECT id FROM sessions").fetchall():
                if sid not in seen:
                    con.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        return n

    # -- analysis results -------------------------------------------------------------------
    def add_result(
        self,
        session_id: str,
        kind: str,
        payload: dict[str, Any],
        *,
        value: float | None = None,
        unit: str | None = None,
    ) -> int:
        """Store one analysis result for a session; returns its row id."""
        with self._connect() as con:
            if con.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                raise StorageError(f"no session {session_id!r} in the index {self.path}")
            cur = con.execute(
                "INSERT INTO results (session_id, kind, created_utc, value, unit, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, kind, iso(utc_now()), value, unit, json.dumps(payload)),
            )
            return int(cur.lastrowid or 0)

    def results(self, session_id: str | None = None, kind: str | None = None) -> list[ResultRow]:
        where, args = [], []
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT id, session_id, kind, created_utc, value, unit, payload FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_utc, id"
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        return [ResultRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]
