"""The Fuglevand 1993 pool and its rate coding, checked against the model's own equations."""

from __future__ import annotations

import numpy as np
import pytest
from muwatch import sim
from muwatch.errors import UsageError
from muwatch.sim.firing import spike_trains


def test_fuglevand_parameters() -> None:
    p = sim.make_pool("ADM", n_units=120, seed=3, twitch_range=100.0)  # Fuglevand's rank law
    i = np.arange(1, 121)
    np.testing.assert_allclose(p.rte, np.exp(np.log(30) * i / 120))
    np.testing.assert_allclose(p.pfr_hz, 35 - 10 * p.rte / p.rte[-1])
    assert p.twitch[-1] / p.twitch[0] == pytest.approx(100 ** (119 / 120))
    # contraction time 90 ms for the smallest twitch, a third of that over a 100-fold range
    assert p.t_contract_s[-1] / p.t_contract_s[0] == pytest.approx(
        (1 / 100 ** (119 / 120)) ** (np.log(3) / np.log(100))
    )
    assert p.e_max == pytest.approx(30 + 25 - 8)


def test_default_twitch_follows_the_fibre_count() -> None:
    # force and S-MUP from the same innervation number (MUAP amplitude ∝ twitch, Fuglevand 1993)
    p = sim.make_pool("ADM", n_units=120, seed=3)
    np.testing.assert_allclose(p.twitch, p.fibres / p.fibres.min())
    strongest, weakest = int(np.argmax(p.twitch)), int(np.argmin(p.twitch))
    assert p.t_contract_s[weakest] == pytest.approx(0.090)
    assert p.t_contract_s[strongest] == pytest.approx(0.030)


def test_force_inverse_is_monotone_and_consistent() -> None:
    p = sim.make_pool("TA", seed=1)
    pct = np.array([1, 5, 10, 20, 40, 60, 80, 100.0])
    e = p.excitation_for(pct)
    assert np.all(np.diff(e) > 0)
    f = p.mean_force(e) / p.mean_force(p.e_max) * 100
    np.testing.assert_allclose(f, pct, rtol=0.02, atol=0.3)


@pytest.mark.parametrize("pct", [15.0, 50.0, 100.0])
def test_steady_rates_within_model_bounds(pct: float) -> None:
    p = sim.make_pool("ADM", n_units=100, seed=5)
    e = float(p.excitation_for(pct))
    trains = spike_trains(p, np.full(20000, e), 1e-3, seed=2)
    expected = p.firing_rate(e)
    active = 0
    for u, t in enumerate(trains):
        if expected[u] == 0:
            assert t.size == 0, "an unrecruited unit fired"
            continue
        active += 1
        isi = np.diff(t)
        rate = 1.0 / isi.mean()
        assert p.mfr_hz * 0.95 <= rate <= p.pfr_hz[u] * 1.05
        assert rate == pytest.approx(expected[u], rel=0.05)
        assert isi.std() / isi.mean() == pytest.approx(p.isi_cv, abs=0.04)
    assert active == int(np.count_nonzero(expected))
    assert active > 0


def test_recruitment_order_on_a_ramp() -> None:
    p = sim.make_pool("ADM", n_units=150, seed=9)
    exc = np.linspace(0, p.e_max, 20000)
    trains = spike_trains(p, exc, 1e-3, seed=4)
    first = np.array([t[0] for t in trains])
    assert np.all(np.diff(first) >= 0), "units must be recruited in threshold order"
    # ...and each at the time its threshold is crossed
    np.testing.assert_allclose(
        first, np.interp(p.rte, exc, np.arange(exc.size) * 1e-3), atol=1.1e-3
    )


def test_ageing_loses_units_and_grows_survivors() -> None:
    p = sim.make_pool("ADM", seed=4)
    a = sim.age_pool(p, 0.5, adoption=0.6, seed=4)
    assert a.n == p.n - round(0.5 * p.n)
    dead = np.setdiff1d(p.ids, a.ids)
    orphaned = p.fibres[dead].sum()
    assert a.fibres.sum() == pytest.approx(p.fibres[a.ids].sum() + 0.6 * orphaned, rel=0.01)
    assert a.fibres.mean() > p.fibres.mean()
    assert np.all(a.adopted >= 0) and a.adopted.max() > 0.3
    assert a.jitter_us.max() > p.jitter_us.max()
    assert a.history[-1].startswith("age_pool")


def test_myopathy_makes_units_smaller() -> None:
    p = sim.make_pool("ADM", seed=4)
    m = sim.myopathic_pool(p, 0.5, seed=4)
    assert m.n == p.n
    assert m.fibres.sum() < 0.7 * p.fibres.sum()
    assert np.all(m.width_s < p.width_s)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(UsageError, match="known muscles"):
        sim.make_pool("quadriceps")
    with pytest.raises(UsageError):
        sim.make_pool("ADM", n_units=0)
    with pytest.raises(UsageError):
        sim.age_pool(sim.make_pool("ADM", n_units=10), 1.5)
