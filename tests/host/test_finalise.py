"""Journal → BDF+: samples by index, gaps exact and annotated (never spliced), files readable by
edfio and MNE with the right names, units, rate and annotations."""

from __future__ import annotations

import os
import stat

import edfio
import numpy as np
import pytest
from hostkit import FakeSession
from muwatch.errors import FileFormatError, StorageError
from muwatch.session import finalise_session, recover_session
from muwatch.session import journal as jr
from muwatch.session.finalise import record_layout


def _bdf(session, summary):
    return edfio.read_bdf(session.folder / summary["files"]["bdf"])


def test_complete_session_is_bit_identical(store):
    s = FakeSession(store, n=20000)
    s.blocks(0, 20000)
    s.writer.append_json(jr.END, {"next_index": 20000, "reason": "stop"})
    s.writer.close()
    summary = finalise_session(s.folder)
    assert summary["status"] == "finalised"
    assert summary["lost_samples"] == 0 and summary["gaps"] == []
    bdf = _bdf(s, summary)
    assert bdf.labels == ("EMG1", "EMG2")
    for i, sig in enumerate(bdf.signals):
        assert sig.sampling_frequency == 2000
        assert sig.physical_dimension == "uV"
        assert np.array_equal(sig.digital, s.source[:, i])
    assert not (s.folder / "journal.mwj").exists(), "journal removed after a verified write"
    path = s.folder / summary["files"]["bdf"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_gaps_are_located_exactly_and_annotated_not_spliced(store):
    s = FakeSession(store, n=20000)
    # blocks of 9: skip the blocks starting in [4500, 5400) and in [9000, 9009)
    s.blocks(0, 20000, skip=[(4500, 5400), (9000, 9001)])
    s.writer.append_json(jr.GAP, {"first": 4500, "count": 900, "cause": "beyond device buffer"})
    s.writer.append_json(jr.END, {"next_index": 20000, "reason": "stop"})
    s.writer.close()
    summary = finalise_session(s.folder)
    gaps = [(g["first"], g["count"], g["cause"]) for g in summary["gaps"]]
    assert gaps == [(4500, 900, "beyond device buffer"), (9000, 9, "not received")]
    assert summary["lost_samples"] == 909
    bdf = _bdf(s, summary)
    d = bdf.signals[1].digital
    assert d.shape[0] == 20000, "timeline kept: the file is not spliced"
    assert np.all(d[4500:5400] == 0) and np.all(d[9000:9009] == 0)
    keep = np.ones(20000, bool)
    keep[4500:5400] = keep[9000:9009] = False
    assert np.array_equal(d[keep], s.source[keep, 1])
    bad = [a for a in bdf.annotations if a.text.startswith("BAD_GAP")]
    assert [(round(a.onset * 2000), round(a.duration * 2000)) for a in bad] == [
        (4500, 900),
        (9000, 9),
    ]


def test_tail_not_received_is_a_gap(store):
    s = FakeSession(store, n=2000)
    s.blocks(0, 1800)
    s.writer.append_json(jr.END, {"next_index": 2000, "reason": "stop"})
    s.writer.close()
    summary = finalise_session(s.folder)
    assert [(g["first"], g["count"]) for g in summary["gaps"]] == [(1800, 200)]


def test_duplicates_dropped_and_conflicts_counted(store):
    s = FakeSession(store, n=900)
    s.blocks(0, 900)
    s.block(90, 9, flags=0x08)  # a resent duplicate
    bad = s.source[180:189].copy()
    bad[3, 0] += 1
    s.block(180, 9, codes=bad)  # same index, different value: first arrival wins, counted
    s.writer.append_json(jr.END, {"next_index": 900})
    s.writer.close()
    summary = finalise_session(s.folder)
    assert summary["stats"]["duplicate_samples_in_journal"] == 17
    assert summary["stats"]["conflicting_samples"] == 1
    assert np.array_equal(_bdf(s, summary).signals[0].digital[:900], s.source[:, 0])


def test_mne_reads_names_units_rate_and_annotations(store):
    mne = pytest.importorskip("mne")
    s = FakeSession(store, n=5000, fs=1000.0, n_ch=3)
    s.blocks(0, 5000, skip=[(2001, 2100)])
    s.writer.append_json(
        jr.ANNOT, {"index": 500, "duration": 0, "text": "MARKER 1: key 1", "kind": "marker"}
    )
    s.writer.append_json(
        jr.ANNOT, {"index": 1000, "duration": 1500, "text": "PHASE rest", "kind": "phase"}
    )
    s.writer.append_json(
        jr.ANNOT, {"index": 3000, "duration": 0, "text": "LEAD_OFF EMG2-", "kind": "lead_off"}
    )
    s.writer.append_json(
        jr.ANNOT, {"index": 4000, "duration": 0, "text": "TRIGGER rising", "kind": "trigger"}
    )
    s.writer.append_json(jr.END, {"next_index": 5000})
    s.writer.close()
    summary = finalise_session(s.folder)
    raw = mne.io.read_raw_bdf(s.folder / summary["files"]["bdf"], preload=True, verbose="error")
    assert raw.ch_names == ["EMG1", "EMG2", "EMG3"]
    assert raw.info["sfreq"] == 1000.0
    assert raw.n_times == 5000
    volts = raw.get_data()[2, :100]
    lsb_v = s.meta.uv_per_code * 1e-6
    assert np.allclose(volts, s.source[:100, 2] * lsb_v, rtol=1e-6, atol=lsb_v)
    texts = list(raw.annotations.description)
    onsets = dict(zip(texts, raw.annotations.onset, strict=True))
    assert onsets["MARKER 1: key 1"] == pytest.approx(0.5)
    assert onsets["PHASE rest"] == pytest.approx(1.0)
    assert onsets["LEAD_OFF EMG2-"] == pytest.approx(3.0)
    assert onsets["TRIGGER rising"] == pytest.approx(4.0)
    gap = [i for i, t in enumerate(texts) if t.startswith("BAD_GAP")]
    assert len(gap) == 1
    # blocks of 9 starting in [2001, 2100) are skipped: samples 2007..2105 missing
    assert raw.annotations.onset[gap[0]] == pytest.approx(2.007)
    assert raw.annotations.duration[gap[0]] == pytest.approx(0.099)


def test_padding_of_the_last_record_is_marked(store):
    s = FakeSession(store, n=2500)
    s.blocks(0, 2500)
    s.writer.append_json(jr.END, {"next_index": 2500})
    s.writer.close()
    summary = finalise_session(s.folder)
    bdf = _bdf(s, summary)
    assert summary["bdf"]["padding_samples"] == 1500
    pad = [a for a in bdf.annotations if a.text.startswith("BAD_PAD")]
    assert len(pad) == 1 and pad[0].onset == pytest.approx(1.25)


@pytest.mark.parametrize("fs,n_ch", [(250, 1), (2000, 8), (16000, 8), (16000, 1)])
def test_record_layout_fits_whole_samples(fs, n_ch):
    duration, spr = record_layout(fs, n_ch)
    assert spr == fs * duration
    assert spr * n_ch * 3 <= 61440


def test_interrupted_journal_is_recovered(store):
    s = FakeSession(store, n=4000)
    s.blocks(0, 4000)
    s.writer.flush()
    os.truncate(s.writer.path, s.writer.bytes_written - 50)  # a torn last record
    s.writer.abandon()
    summary = recover_session(s.folder)
    assert summary["status"] == "recovered"
    assert summary["journal"]["ended_cleanly"] is False
    assert summary["journal"]["bad_bytes"] > 0
    # the last block (3996..3999) was torn away; everything before it is there
    assert summary["n_samples"] == 3996 and summary["lost_samples"] == 0
    assert np.array_equal(_bdf(s, summary).signals[0].digital[:3996], s.source[:3996, 0])


def test_live_recording_cannot_be_finalised_from_outside(store):
    s = FakeSession(store, n=90)
    s.blocks(0, 90)
    s.writer.flush()
    with pytest.raises(StorageError, match="still being recorded"):
        recover_session(s.folder)
    s.writer.close()


def test_empty_session_says_so(store):
    s = FakeSession(store)
    s.writer.close()
    summary = finalise_session(s.folder)
    assert summary["status"] == "empty" and summary["files"] == {}


def test_folder_without_a_session(tmp_path):
    with pytest.raises(FileFormatError, match="not a muwatch session"):
        finalise_session(tmp_path)


def test_journal_without_metadata_is_refused(store):
    sid, folder = store.new_session_dir("p01", __import__("datetime").datetime.now())
    w = jr.JournalWriter(folder / "journal.mwj")
    w.append_data(0, 0, 0.0, 0, np.zeros((9, 2), np.int32))
    w.close()
    with pytest.raises(FileFormatError, match="no readable metadata"):
        finalise_session(folder)
