"""Electrode placement data is complete and matches its guide; the HIL bench numbers add up."""

from __future__ import annotations

import tomllib

import pytest
from muwatch_hw import bench, rules

PLACEMENT = rules.HARDWARE_DIR / "electrodes.toml"
GUIDE = rules.HARDWARE_DIR / "electrode-placement.md"
ANALYSED = {
    "ADM": "abductor digiti minimi",
    "APB": "abductor pollicis brevis",
    "TA": "tibialis anterior",
    "BB": "biceps brachii",
}


@pytest.fixture(scope="module")
def placement() -> dict:
    with open(PLACEMENT, "rb") as f:
        return tomllib.load(f)


def test_every_analysed_muscle_has_a_full_placement(placement):
    muscles = {m["id"]: m for m in placement["muscle"]}
    assert {k: m["name"] for k, m in muscles.items()} == ANALYSED
    for m in muscles.values():
        for key in ("active", "reference", "ground", "stimulation"):
            assert len(m[key]) > 20, (m["id"], key)
        assert m["nerve"] and m["landmarks"], m["id"]
        # every landmark the positions are measured from is named in a position
        text = " ".join(m[k] for k in ("active", "reference", "ground", "stimulation"))
        for lm in m["landmarks"]:
            assert lm.split(" (")[0] in text, (m["id"], lm)
        assert 1 <= m["channel"] <= 8
        assert m["sources"] and all(s in placement["sources"] for s in m["sources"]), m["id"]


def test_montage_matches_the_schematic_inputs(placement):
    from muwatch_hw import sensor

    c = sensor.build()
    mont = placement["montage"]
    assert (mont["active"], mont["reference"], mont["ground"]) == ("INnP", "INnN", "BIAS")
    # channel 1: J2 pin 1 -> IN1P, pin 2 -> IN1N, pin 17 -> BIASOUT (through the lead resistors)
    j2 = c.parts["J2"]
    for pin, target in (("1", "IN1P"), ("2", "IN1N"), ("17", "BIAS_OUT")):
        lead = c.net_of(j2, pin)
        res = next(p for p, _ in lead.nodes if p is not j2)
        assert c.net_of(res, "2").name == target


def test_guide_covers_the_data(placement):
    guide = GUIDE.read_text()
    for m in placement["muscle"]:
        assert f"{m['name'].capitalize()} ({m['id']})" in guide
        assert m["nerve"].split()[0] in guide
    for key in placement["sources"]:
        surname = placement["sources"][key].split()[0].rstrip(",")
        assert surname in guide, key


def test_bench_attenuation_and_expected_amplitude():
    b = bench.load()
    assert 1 / b.ratio == pytest.approx(999.0)
    # a tone far below the filter corner arrives with the divider's ratio alone
    assert bench.expected_uvpp(b, 10.0, 4000.0) == pytest.approx(100.1, rel=1e-3)
    # the signal sits well inside the input range at the bench gain
    assert 100.1 / 2 < bench.full_scale_uv(b) / 100


def test_sinc3_corner_matches_the_datasheet():
    # SBAS499C: -3 dB at 0.262 x data rate, for every rate
    for rate in (250.0, 1000.0, 4000.0, 16000.0):
        assert bench.sinc3_gain(0.262 * rate, rate, 512000.0) == pytest.approx(2**-0.5, rel=0.01)
    assert bench.sinc3_gain(1.0, 1000.0, 512000.0) == pytest.approx(1.0, abs=1e-4)


def test_usable_tones_exclude_aliasing_ones():
    b = bench.load()
    assert bench.usable_tones(b, 250.0) == (10.0, 97.0)
    assert bench.usable_tones(b, 1000.0) == b.tones_hz


def test_tolerance_budget_covers_its_parts():
    with open(bench.BENCH, "rb") as f:
        tol = tomllib.load(f)["tolerance"]
    parts = sum(v for k, v in tol.items() if k not in ("total", "trigger_jitter_samples"))
    assert tol["total"] >= parts


def test_lead_noise_is_thermal_noise_of_two_100k():
    # sqrt(4 k T (2 x 100 kohm) x 262 Hz) at 298 K = 0.93 uVrms
    assert bench.lead_noise_uvrms(1000.0) == pytest.approx(0.929, abs=0.005)
