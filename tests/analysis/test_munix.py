"""MUNIX from signals where the answer follows from the formula (Nandedkar 2004 identities)."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.analysis.munix import MunixRules, munix, split_epochs
from muwatch.errors import UsageError

from .gen import biphasic, cmap_epoch, sip_epochs

FS = 4000.0
LOOSE = MunixRules(min_area_mv_ms=0.0, max_peak_fraction=1.0)


@pytest.mark.parametrize("n_units", [7, 40, 150])
def test_icmuc_equals_n_for_identical_non_overlapping_muaps(n_units: int) -> None:
    cm, pre = cmap_epoch(FS, n_units)
    eps = sip_epochs(FS, [1.0] * 5, 3)
    r = munix(cm, eps, FS, cmap_stim_index=pre, cmap_window="whole", rules=LOOSE)
    for e in r.epochs:
        assert e.icmuc == pytest.approx(n_units, rel=2e-3)
    # main-phase window of an antisymmetric MUAP: the same ratio
    r2 = munix(cm, eps, FS, cmap_stim_index=pre, rules=LOOSE)
    assert r2.epochs[0].icmuc == pytest.approx(n_units, rel=2e-3)


def test_icmuc_is_n_over_one_plus_cv2_for_unequal_sizes() -> None:
    sizes = [1.0, 1.5, 2.0, 3.0, 6.0]
    s = np.array(sizes)
    expected = s.sum() ** 2 / (s**2).sum()
    assert expected == pytest.approx(len(s) / (1 + (s.std() / s.mean()) ** 2))
    cm, pre = cmap_epoch(FS, s.sum())
    r = munix(
        cm, sip_epochs(FS, sizes, 2), FS, cmap_stim_index=pre, cmap_window="whole", rules=LOOSE
    )
    assert r.epochs[0].icmuc == pytest.approx(expected, rel=2e-3)


def test_fit_reads_power_law_at_20_mv_ms_and_musix() -> None:
    # epochs with k identical units firing in overlapping pairs: ICMUC falls as force rises
    rng = np.random.default_rng(3)
    m = biphasic(FS, amp_uv=400.0)
    cm, pre = cmap_epoch(FS, 400.0)  # 100 units of the 400 µV MUAP: 400 x the 100 µV shape
    n = int(0.5 * FS)
    eps = []
    for k in range(25):
        x = np.zeros(n)
        count = 20 + 10 * k
        for p in rng.integers(0, n - m.size, count):
            x[p : p + m.size] += m
        eps.append(x)
    r = munix(cm, eps, FS, cmap_stim_index=pre, rules=MunixRules(max_peak_fraction=1.0))
    acc = [e for e in r.epochs if e.accepted]
    assert r.n_accepted == len(acc) >= 20
    assert r.meets_guideline
    assert r.munix is not None and r.slope is not None and r.slope < 0
    x = np.log([e.sip_area_mv_ms for e in acc])
    y = np.log([e.icmuc for e in acc])
    b, a = np.polyfit(x, y, 1)
    assert r.slope == pytest.approx(b, abs=0.01)
    assert r.munix == pytest.approx(np.exp(a + b * np.log(20.0)), rel=0.01)
    assert r.musix_uv == pytest.approx(r.cmap.amplitude_uv / r.munix, rel=1e-3)
    assert r.alpha == pytest.approx(np.exp(a), rel=0.02)
    assert any("supramaximal" in note for note in r.notes)


def test_epoch_rules_refuse_low_force_and_say_why() -> None:
    cm, pre = cmap_epoch(FS, 100.0)
    quiet = sip_epochs(FS, [1.0], 5)  # one 100 µV MUAP per 500 ms: far below 20 mV·ms
    r = munix(cm, quiet, FS, cmap_stim_index=pre)
    assert r.munix is None and r.n_accepted == 0
    assert all(not e.accepted for e in r.epochs)
    assert all(any("below the reference" in why for why in e.reasons) for e in r.epochs)
    assert any("no MUNIX" in note for note in r.notes)


def test_bad_inputs_are_refused() -> None:
    cm, pre = cmap_epoch(FS, 10.0)
    with pytest.raises(UsageError, match="SIP epochs"):
        munix(cm, [], FS, cmap_stim_index=pre)
    with pytest.raises(UsageError, match="same length"):
        munix(cm, [np.ones(100), np.ones(90)], FS, cmap_stim_index=pre)
    with pytest.raises(UsageError, match="NaN"):
        munix(cm, [np.full(100, np.nan)], FS, cmap_stim_index=pre)
    with pytest.raises(UsageError, match="cmap_window"):
        munix(cm, [np.ones(100)], FS, cmap_stim_index=pre, cmap_window="peak")
    with pytest.raises(UsageError, match="sampling rate"):
        munix(cm, [np.ones(100)], -1.0)


def test_split_epochs_cuts_whole_epochs_only() -> None:
    x = np.arange(10_000, dtype=float)
    eps = split_epochs(x, 1000.0, 1.0, 3.3)
    assert len(eps) == 4
    assert eps[0][0] == 1.0 and eps[0][1][0] == 1000.0 and eps[-1][1].size == 500
