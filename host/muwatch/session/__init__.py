"""Sessions: crash-safe journal while recording, BDF+ and BIDS-EMG when done, and the index.

Public API:
  SessionStore      the data folder (platformdirs or --data-dir); finds sessions
  SessionIndex      SQLite index of sessions and analysis results
  SessionMeta       what a session is (subject, muscle, task, channels, scaling, device)
  JournalWriter     append-only, CRC-checked, flushed at least every second
  finalise_session  journal → BDF+ (gaps annotated, never spliced) + session.json
  recover_session   the same for an interrupted recording
  export_bids       a finished session → a BIDS-EMG dataset
The recorder that drives a `muwatch.device.Device` lives in `muwatch.session.recorder`.
"""

from pathlib import Path
from typing import Any

from muwatch.session.bids import export_bids
from muwatch.session.clock import ClockFit, ClockMap
from muwatch.session.finalise import finalise_session
from muwatch.session.index import SessionIndex
from muwatch.session.journal import JournalWriter, scan_journal
from muwatch.session.meta import SessionMeta
from muwatch.session.store import SessionStore


def recover_session(folder: Path | str, *, keep_journal: bool = False) -> dict[str, Any]:
    """Finalise an interrupted recording: every whole record of the journal is kept."""
    return finalise_session(Path(folder), recovering=True, keep_journal=keep_journal)


__all__ = [
    "ClockFit",
    "ClockMap",
    "JournalWriter",
    "SessionIndex",
    "SessionMeta",
    "SessionStore",
    "export_bids",
    "finalise_session",
    "recover_session",
    "scan_journal",
]
