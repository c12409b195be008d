"""The host-bridge commands without a sensor: sessions, export, recover, --help everywhere,
and the documented exit codes for bad arguments, missing sessions and files that are not
sessions."""

from __future__ import annotations

import json
import os

import pytest
from hostkit import FakeSession
from muwatch.cli import main

BRIDGE = ["scan", "pair", "info", "stream", "record", "sessions", "export", "recover"]


@pytest.mark.parametrize("cmd", BRIDGE)
def test_every_command_has_help(cmd, capsys):
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: muwatch" in out and cmd in out


def _interrupted(store, n=3000):
    s = FakeSession(store, n=n)
    s.blocks(0, n)
    s.writer.flush()
    s.writer.abandon()  # as after kill -9: no END record, lock released
    return s


def test_sessions_recover_export_round_trip(store, tmp_path, capsys):
    dd = str(store.root)
    s = _interrupted(store)
    # an interrupted session shows as such (the index is rebuilt from the folders)
    assert main(["sessions", "--data-dir", dd, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"]) for r in rows] == [(s.sid, "interrupted")]
    assert main(["recover", "--all", "--data-dir", dd]) == 0
    out = capsys.readouterr().out
    assert f"{s.sid}: recovered, 3000 samples" in out and "0 lost" in out
    assert main(["sessions", "--data-dir", dd, "--subject", "p01", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["status"] == "recovered" and rows[0]["n_samples"] == 3000
    assert main(["sessions", "--data-dir", dd, "--subject", "nobody"]) == 0
    assert "no sessions" in capsys.readouterr().out
    bids = tmp_path / "bids"
    assert main(["export", s.sid[:12], "--bids", str(bids), "--data-dir", dd]) == 0
    assert (bids / "sub-p01" / "ses-20250102T030405" / "emg").is_dir()
    assert main(["sessions", "--data-dir", dd]) == 0
    assert s.sid in capsys.readouterr().out


def test_exit_codes_say_what_went_wrong(store, tmp_path, capsys):
    dd = str(store.root)
    assert main(["recover", "nope", "--data-dir", dd]) == 2
    assert "no session 'nope'" in capsys.readouterr().err
    assert main(["recover", "--data-dir", dd]) == 2
    assert main(["record", "sim", "--subject", "p 1", "--muscle", "FDI", "--task", "x"]) == 2
    assert "letters and digits" in capsys.readouterr().err
    assert main(["stream", "sim", "--channels", "0,9"]) == 2
    assert "channels are 1..8" in capsys.readouterr().err
    assert main(["stream", "ble:x", "--ble-backend", "carrier-pigeon"]) == 2
    assert "unknown BLE backend" in capsys.readouterr().err
    not_session = tmp_path / "photos"
    not_session.mkdir()
    (not_session / "cat.jpg").write_bytes(b"\xff\xd8")
    assert main(["recover", str(not_session), "--data-dir", dd]) == 4
    assert "not a muwatch session" in capsys.readouterr().err
    bogus = tmp_path / "fake" / "journal.mwj"
    bogus.parent.mkdir()
    bogus.write_bytes(b"hello world, not a journal")
    assert main(["recover", str(bogus.parent), "--data-dir", dd]) == 4
    assert "not a muwatch journal" in capsys.readouterr().err
    # a device that is not there: exit code 3 and a message naming it
    assert main(["info", "socket://127.0.0.1:9", "--timeout", "1"]) == 3
    assert "127.0.0.1:9" in capsys.readouterr().err


def test_export_of_an_unfinished_session_is_refused(store, tmp_path, capsys):
    s = FakeSession(store, n=90)
    s.blocks(0, 90)
    s.writer.close()
    assert (
        main(["export", s.sid, "--bids", str(tmp_path / "b"), "--data-dir", str(store.root)]) == 4
    )
    assert "only finished sessions" in capsys.readouterr().err


def test_data_dir_from_the_environment(store, monkeypatch, capsys):
    s = _interrupted(store, n=900)
    monkeypatch.setenv("MUWATCH_DATA_DIR", str(store.root))
    assert main(["recover", s.sid]) == 0
    assert "recovered" in capsys.readouterr().out
    assert oct(os.stat(store.root / "sessions").st_mode & 0o777) == "0o700"
    assert not (s.folder / "journal.mwj").exists()
