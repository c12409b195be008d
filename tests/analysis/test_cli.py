"""`muwatch analyze` and `muwatch trend` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from muwatch import sim
from muwatch.cli import main
from muwatch.session.index import SessionIndex
from muwatch.session.store import SessionStore


@pytest.fixture(scope="module")
def munix_bdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = sim.simulate("munix", seed=5)
    return Path(sim.write_bdf(rec, tmp_path_factory.mktemp("cli") / "m.bdf"))


def test_analyze_json_and_report(
    munix_bdf: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "r.html"
    assert main(["analyze", str(munix_bdf), "--json", "--report", str(report)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["methods"]["munix"]["munix"] > 0
    assert d["units"] == [] and d["report"] == str(report)
    assert {"method", "reason"} <= set(d["not_run"][0])
    html = report.read_text()
    assert "MUNIX regression" in html or "data:image/png;base64" in html
    assert "Could not run" in html


def test_analyze_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], munix_bdf: Path
) -> None:
    assert main(["analyze", str(tmp_path / "nope.bdf"), "--data-dir", str(tmp_path)]) in (2, 4)
    assert "muwatch: error" in capsys.readouterr().err
    assert main(["analyze", str(munix_bdf), "--channel", "7", "--no-report"]) == 2
    assert "out of range" in capsys.readouterr().err


def _session(index: SessionIndex, sid: str, when: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    index.upsert(
        {
            "session_id": sid,
            "status": "complete",
            "subject": "p01",
            "muscle": "ADM",
            "started_utc": when,
        },
        folder,
    )


def test_trend_flags_munix_change_past_20_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SessionStore(tmp_path)
    index = SessionIndex(store.index_path)
    values = [
        ("2026-01-01T10:00:00+00:00", 180.0),
        ("2026-04-01T10:00:00+00:00", 160.0),
        ("2026-08-01T10:00:00+00:00", 135.0),
    ]
    for k, (when, v) in enumerate(values):
        sid = f"s{k}"
        _session(index, sid, when, store.sessions_dir / sid)
        index.add_result(sid, "munix", {"kind": "index"}, value=v, unit="")
        index.add_result(
            sid, "index.mean_smuap_uv", {"kind": "index, not MUNE"}, value=100.0 + k, unit="µV"
        )
    report = tmp_path / "t.html"
    assert (
        main(["trend", "p01", "--data-dir", str(tmp_path), "--json", "--report", str(report)]) == 0
    )
    d = json.loads(capsys.readouterr().out)
    mx = next(s for s in d["series"] if s["measure"] == "munix")
    assert mx["normal"]["source"].startswith("Cao")
    assert [p["real"] for p in mx["points"]] == [None, False, True]  # -11 %, then -25 %
    idx = next(s for s in d["series"] if s["measure"] == "index.mean_smuap_uv")
    assert idx["normal"] is None  # an index is never compared with normal values
    assert idx["points"][1]["real"] is None  # one baseline measure: cannot judge
    assert report.exists()
    assert main(["trend", "nobody", "--data-dir", str(tmp_path)]) == 2


def test_session_command_checks_its_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from muwatch.cli.session import _program

    assert (
        main(
            [
                "session",
                "sim",
                "--subject",
                "p01",
                "--muscle",
                "ADM",
                "--stim-range",
                "40:20",
                "--yes",
            ]
        )
        == 2
    )
    assert "need --stimulator" in capsys.readouterr().err
    prog = _program("40:20", None, 5, 61)
    assert (
        prog[:5] == [40.0] * 5
        and prog[5] == 40.0
        and prog[-1] == pytest.approx(20.0)
        and len(prog) == 66
    )
    f = tmp_path / "p.txt"
    f.write_text("30\n29.5\n")
    assert _program(None, f, 5, 60) == [30.0, 29.5]
    with pytest.raises(Exception, match="SUPRA:LOW"):
        _program("40-20", None, 5, 60)
