"""QEMG parameters, indices labelling, normal ranges and the change rules."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch.analysis.indices import KIND, surface_indices
from muwatch.analysis.normals import judge_change, normal_range
from muwatch.analysis.qemg import _count_turns, qemg_parameters, qemg_units
from muwatch.errors import UsageError

FS = 20_000.0


def triphasic(width_ms: float, amp_uv: float) -> np.ndarray:
    t = np.arange(-int(0.012 * FS), int(0.018 * FS)) / FS
    x = t / (width_ms * 1e-3)
    return -amp_uv * (1 - 2 * x**2) * np.exp(-(x**2))


def test_qemg_of_a_triphasic_muap() -> None:
    tpl = triphasic(0.8, 500.0)
    p = qemg_parameters(tpl, FS)
    assert p.p2p_uv == pytest.approx(tpl.max() - tpl.min(), rel=1e-6)
    assert p.phases == 3 and p.turns == 3
    # the shape is above 2 % of p2p for |x| < ~2.35: duration ~ 2 x 2.35 x 0.8 ms
    assert 3.2 < p.duration_ms < 4.4
    inside = np.abs(tpl) > 0.02 * p.p2p_uv
    assert p.area_uv_ms == pytest.approx(np.abs(tpl[inside]).sum() / FS * 1000, rel=0.05)
    assert p.size_index == pytest.approx(
        2 * np.log10(p.p2p_uv / 1000) + p.area_uv_ms / p.p2p_uv, rel=1e-9
    )


def test_polyphasic_muap_has_more_phases_and_turns() -> None:
    t = np.arange(-int(0.012 * FS), int(0.018 * FS)) / FS
    x = triphasic(0.5, 400.0) + 0.8 * np.interp(t - 1.6e-3, t, triphasic(0.5, 400.0))
    p = qemg_parameters(x, FS)
    assert p.phases >= 5 and p.turns >= 5
    assert _count_turns(np.array([0.0, 10, 0, 10, 0]), 25.0) == 0


def test_qemg_units_from_trains() -> None:
    rng = np.random.default_rng(1)
    n = int(4 * FS)
    sig = rng.normal(0, 8.0, n)
    tpl = triphasic(0.6, 600.0)
    idx = np.arange(3000, n - 1000, 2000)  # 10 Hz
    for i in idx:
        sig[i - 240 : i - 240 + tpl.size] += tpl
    units = qemg_units(sig, FS, {0: idx})
    assert len(units) == 1
    u = units[0]
    assert u.rate_hz == pytest.approx(10.0, rel=1e-3)
    assert u.p2p_uv == pytest.approx(tpl.max() - tpl.min(), rel=0.05)
    assert set(u.to_dict()) >= {
        "p2p_uv",
        "duration_ms",
        "phases",
        "turns",
        "area_uv_ms",
        "size_index",
        "rate_hz",
    }


def test_indices_are_labelled_index_not_mune() -> None:
    rng = np.random.default_rng(0)
    ind = surface_indices(rng.normal(0, 5, 12000), 4000.0, force_label="steady 5% MVC")
    assert ind.kind == KIND == "index, not MUNE"
    assert "never with MUNE normal values" in ind.notes[0]
    with pytest.raises(UsageError, match="at least 2 s"):
        surface_indices(np.zeros(1000), 4000.0)


def test_normal_ranges_cite_cao_2020() -> None:
    r = normal_range("ADM", "munix")
    assert r is not None and r.mean == 179.1 and r.low == pytest.approx(179.1 - 77.6)
    assert "Cao" in r.source
    assert normal_range("tibialis anterior", "musix_uv").mean == 41.3
    assert normal_range("FDI", "munix") is None  # not in the table: no range shown


def test_change_rules() -> None:
    assert judge_change("munix", [150.0], 125.0).real is False  # -16.7 %
    assert judge_change("munix", [150.0], 118.0).real is True  # -21 %
    v = judge_change("mean_smuap_uv", [100.0], 80.0)
    assert v.real is None and "repeat" in v.rule
    v = judge_change("mean_smuap_uv", [100.0, 104.0, 98.0], 80.0)
    assert v.real is True
    assert judge_change("mean_smuap_uv", [100.0, 104.0, 98.0], 97.0).real is False
