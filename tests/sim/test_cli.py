"""`muwatch simulate` and `muwatch eval-detect` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from muwatch import sim
from muwatch.cli import main


def test_simulate_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "simulate",
            "--scenario",
            "cmap",
            "--seconds",
            "2",
            "--fs",
            "5000",
            "--out",
            str(tmp_path),
            "--seed",
            "4",
        ]
    )
    assert rc == 0
    stem = tmp_path / "cmap_seed4"
    for suffix in (".bdf", "_truth.json", ".i32", ".json"):
        assert Path(str(stem) + suffix).exists(), suffix
    src = sim.read_signal_source(stem)
    assert src.fs == 5000 and src.codes.shape == (10000, 8) and src.meta["triggers"] == [0.5, 1.5]
    truth = sim.read_truth(str(stem) + "_truth.json")
    assert truth["seed"] == 4 and truth["fs"] == 5000
    assert "cmap seed 4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "known scenarios: surface-steady"),
        (["--fs", "50"], "1000-20000 Hz"),
        (["--fs", "25000"], "1000-20000 Hz"),
        (["--seconds", "-1"], "--seconds"),
        (["--gain", "5"], "gain must be one of"),
    ],
)
def test_simulate_bad_arguments(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["simulate", "--out", str(tmp_path), "--seconds", "1", *args])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_simulate_needs_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "cmap"]) == 2
    assert "--out" in capsys.readouterr().err


def _detect_file(
    path: Path, truth: dict, channel: str, times: np.ndarray, units: list | None = None
) -> Path:
    spikes = [
        {"t": float(t), "amplitude": -1.0, "unit": None if units is None else units[k]}
        for k, t in enumerate(times)
    ]
    path.write_text(json.dumps({"fs": truth["fs"], "channel": channel, "spikes": spikes}))
    return path


def test_eval_detect_scores_an_oracle_and_a_bad_detector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            "simulate",
            "--scenario",
            "needle-steady",
            "--seconds",
            "2",
            "--out",
            str(tmp_path),
            "--what",
            "truth",
        ]
    )
    tfile = tmp_path / "needle-steady_seed0_truth.json"
    truth = sim.read_truth(tfile)
    from muwatch.eval import truth_trains

    inc, _, _ = truth_trains(truth, "NDL1", min_snr=3.0)
    good = np.sort(np.concatenate(list(inc.values())))
    dfile = _detect_file(tmp_path / "det.json", truth, "NDL1", good + 0.1e-3)
    capsys.readouterr()
    assert (
        main(
            [
                "eval-detect",
                "--truth",
                str(tfile),
                "--detected",
                str(dfile),
                "--min-snr",
                "3",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["0.4ms"]["recall"] == 1.0 and res["0.4ms"]["precision"] == 1.0
    # shifted by 0.7 ms: misses at 0.4 ms, found at 1 ms
    dfile2 = _detect_file(tmp_path / "det2.json", truth, "NDL1", good + 0.7e-3)
    assert (
        main(
            [
                "eval-detect",
                "--truth",
                str(tfile),
                "--detected",
                str(dfile2),
                "--min-snr",
                "3",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    # only chance coincidences with other units' firings: a Poisson stream of the target rate
    # falls within +-0.4 ms of a given instant with probability 1 - exp(-rate * 0.8 ms)
    chance = 1.0 - np.exp(-good.size / 2.0 * 0.8e-3)
    assert res["0.4ms"]["recall"] < 2.0 * chance + 0.05 and res["1ms"]["recall"] == 1.0
    assert main(["eval-detect", "--truth", str(tfile), "--detected", str(dfile), "--per-unit"]) == 0
    out = capsys.readouterr().out
    assert "per unit at 0.4 ms" in out and "recall" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a detections JSON"),
        ('{"spikes": [{"amplitude": 1}]}', 'has no "t"'),
        ('{"spikes": [{"t": "x"}]}', "non-numeric"),
        ('{"fs": 1000, "spikes": []}', "not the same recording"),
        ('{"spikes": [{"t": 99.0}]}', "outside the"),
        ('{"channel": "EMG9", "spikes": []}', "not in the ground truth"),
    ],
)
def test_eval_detect_bad_files(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            "simulate",
            "--scenario",
            "cmap",
            "--seconds",
            "1",
            "--out",
            str(tmp_path),
            "--what",
            "truth",
        ]
    )
    (tmp_path / "d.json").write_text(content)
    rc = main(
        [
            "eval-detect",
            "--truth",
            str(tmp_path / "cmap_seed0_truth.json"),
            "--detected",
            str(tmp_path / "d.json"),
        ]
    )
    assert rc in (2, 4)
    assert message in capsys.readouterr().err


def test_eval_detect_refuses_a_non_truth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.json").write_text('{"hello": 1}')
    (tmp_path / "d.json").write_text('{"spikes": []}')
    assert (
        main(
            [
                "eval-detect",
                "--truth",
                str(tmp_path / "t.json"),
                "--detected",
                str(tmp_path / "d.json"),
            ]
        )
        == 4
    )
    assert "not a muwatch ground-truth file" in capsys.readouterr().err
