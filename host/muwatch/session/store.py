"""Where sessions live: the data folder (platformdirs or --data-dir), one folder per session.

    <data dir>/index.sqlite            the session index (muwatch.session.index)
    <data dir>/sessions/<id>/          one session: journal.mwj while recording,
                                       <id>.bdf + session.json once finalised

Folders are created 0700 and files 0600: recordings are health data.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from muwatch.errors import FileFormatError, StorageError, UsageError
from muwatch.session.journal import make_private_dir

JOURNAL_NAME = "journal.mwj"
SUMMARY_NAME = "session.json"
ENV_DATA_DIR = "MUWATCH_DATA_DIR"


def default_data_dir() -> Path:
    """$MUWATCH_DATA_DIR, else the platform's user data folder for muwatch."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("muwatch", appauthor=False))


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (temp file + fsync + rename), mode 0600."""
    path = Path(path)
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_json(path: Path, obj: Any) -> None:
    write_private(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


class SessionStore:
    """The data folder: creates session folders, finds sessions by id, prefix or path."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.root = Path(data_dir).expanduser() if data_dir else default_data_dir()

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    def ensure(self) -> None:
        try:
            make_private_dir(self.sessions_dir)
        except OSError as exc:
            raise StorageError(
                f"cannot create the data folder {self.root}: {exc.strerror}; "
                "choose another with --data-dir"
            ) from exc

    def new_session_dir(self, subject: str, when: dt.datetime) -> tuple[str, Path]:
        """A fresh, empty session folder named <UTC time>-<subject>[-n]."""
        self.ensure()
        base = f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S}-{subject}"
        for n in range(1000):
            sid = base if n == 0 else f"{base}-{n}"
            path = self.sessions_dir / sid
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                continue
            except OSError as exc:
                raise StorageError(f"cannot create {path}: {exc.strerror}") from exc
            os.chmod(path, 0o700)
            return sid, path
        raise StorageError(f"too many sessions named {base} in {self.sessions_dir}")

    def session_ids(self) -> list[str]:
        if not self.sessions_dir.is_dir():
            return []
        return sorted(p.name for p in self.sessions_dir.iterdir() if is_session_dir(p))

    def resolve(self, spec: str | Path) -> Path:
        """A session folder from an id, a unique id prefix, or a path (folder, journal, BDF)."""
        p = Path(spec).expanduser()
        if p.exists():
            folder = p if p.is_dir() else p.parent
            if is_session_dir(folder):
                return folder
            raise FileFormatError(
                f"{p} is not a muwatch session (no {JOURNAL_NAME} or {SUMMARY_NAME} in {folder})"
            )
        name = str(spec)
        if os.sep in name:
            raise FileFormatError(f"{spec}: no such session folder")
        candidates = [s for s in self.session_ids() if s == name]
        if not candidates:
            candidates = [s for s in self.session_ids() if s.startswith(name)]
        if len(candidates) == 1:
            return self.sessions_dir / candidates[0]
        if not candidates:
            raise UsageError(
                f"no session {name!r} in {self.sessions_dir} (list them with `muwatch sessions`, "
                "or give a path)"
            )
        shown = ", ".join(candidates[:5])
        raise UsageError(f"{name!r} matches {len(candidates)} sessions ({shown}...); be precise")


def is_session_dir(path: Path) -> bool:
    return path.is_dir() and ((path / JOURNAL_NAME).exists() or (path / SUMMARY_NAME).exists())


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The session.json of a folder, or None if absent; a damaged one is a FileFormatError."""
    path = Path(folder) / SUMMARY_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise FileFormatError(f"{path} is damaged (not JSON: {exc})") from exc
    if not isinstance(obj, dict) or "session_id" not in obj:
        raise FileFormatError(f"{path} is not a muwatch session summary")
    return obj


class JournalLock:
    """An exclusive lock on a session's journal, held by the recording process.

    flock() locks vanish with the process, so a recorder killed with SIGKILL never leaves a stale
    lock, and `recover` can tell a live recording from an interrupted one.
    """

    def __init__(self, journal: Path) -> None:
        self.journal = Path(journal)
        self._fd = -1

    def acquire(self) -> bool:
        fd = os.open(self.journal, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd >= 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = -1
