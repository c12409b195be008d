"""The schematic passes its electrical-rules check, and every rule can fail."""

from __future__ import annotations

import pytest
from muwatch_hw import parts, rules, sensor
from muwatch_hw.netlist import Circuit, PartDef, PinDef, PinType


def messages(issues) -> list[str]:
    return [str(i) for i in issues]


def test_erc_is_clean():
    issues = rules.check_all(sensor.build())
    assert issues == [], "\n".join(messages(issues))


def test_every_pin_is_wired_or_deliberately_open():
    c = sensor.build()
    for part in c.parts.values():
        if not part.on_board:
            continue
        for pin in part.definition.pins:
            if pin.type is PinType.NO_CONNECT:
                continue
            wired = c.net_of(part, pin.number) is not None
            reason = part.no_connect.get(pin.number, "")
            assert wired != bool(reason), f"{part.ref}.{pin.number} {pin.name}"


def _fake(name: str, *types: PinType) -> PartDef:
    pins = tuple(PinDef(str(i + 1), f"P{i + 1}", t) for i, t in enumerate(types))
    return PartDef(name, "test part", "test", "TEST", "none", pins)


def _drop(c: Circuit, ref: str, number: str) -> None:
    for net in c.nets.values():
        net.nodes = [
            (p, pin) for p, pin in net.nodes if not (p.ref == ref and pin.number == number)
        ]


def test_erc_finds_unconnected_pin():
    c = sensor.build()
    _drop(c, "U2", "50")  # second DVDD pin
    assert any("[unconnected] U2.50 (DVDD)" in m for m in messages(c.check()))


def test_erc_finds_conflicting_drivers():
    c = sensor.build()
    c.connect("AFE_DRDY", (c.add("X1", _fake("BUF", PinType.OUTPUT)), "1"))
    assert any("[driver-conflict] AFE_DRDY" in m for m in messages(c.check()))


def test_erc_finds_two_power_outputs():
    c = sensor.build()
    _drop(c, "U5", "5")
    c.connect("AVDD", (c.parts["U5"], "OUT"))  # negative LDO output on the positive rail
    assert any("[driver-conflict] AVDD" in m for m in messages(c.check()))


def test_erc_finds_unpowered_power_pins():
    c = sensor.build()
    del c.power_flags["DVDD"]
    assert any("[power-unpowered] DVDD" in m for m in messages(c.check()))


def test_erc_rejects_a_power_flag_without_a_source():
    c = sensor.build()
    sink = c.add("X1", _fake("LOAD", PinType.POWER_IN, PinType.POWER_IN))
    c.connect("FLOATING_RAIL", (sink, "1"), (sink, "2"))
    c.power_flags["FLOATING_RAIL"] = "claimed but not fed"
    assert any("[power-flag] FLOATING_RAIL" in m for m in messages(c.check()))


def test_erc_finds_single_pin_net():
    c = sensor.build()
    c.connect("STUB", (c.add("TP99", parts.TESTPOINT), "1"))
    assert any("[single-pin] STUB" in m for m in messages(c.check()))


def test_erc_finds_wired_no_connect_pin():
    c = sensor.build()
    c.connect("AFE_CLK", (c.parts["U2"], "CLK"), (c.add("X1", _fake("OSC", PinType.OUTPUT)), "1"))
    assert any("[nc-connected] U2.37 (CLK)" in m for m in messages(c.check()))


def test_erc_finds_undriven_inputs():
    c = sensor.build()
    x = c.add("X1", _fake("GATES", PinType.INPUT, PinType.INPUT))
    c.connect("NOBODY", (x, "1"), (x, "2"))
    assert any("[input-undriven] NOBODY" in m for m in messages(c.check()))


def test_patient_lead_resistor_is_sized_from_iec_limit():
    # one lead at the highest board potential, another at the opposite analog rail
    assert rules.min_lead_resistance() == pytest.approx((5.25 + 2.5) / (2 * 50e-6))
    r = rules.parse_ohms(sensor.LEAD_RESISTOR) * (1 - rules.RESISTOR_TOLERANCE)
    worst = (5.25 + 2.5) / (2 * r)
    assert worst <= rules.LIMIT_DC_SFC_A


def test_patient_lead_rule_catches_small_resistor():
    c = sensor.build()
    res = next(p for p, _ in c.nets["LEAD1P"].nodes if p.ref.startswith("R"))
    res.value = "10k"
    assert any(
        "[patient-lead] J2.1" in m and "10k" in m for m in messages(rules.check_patient_leads(c))
    )


def test_patient_lead_rule_catches_direct_connection():
    c = sensor.build()
    c.connect("LEAD3P", (c.add("C99", parts.CAPACITORS["100n"]), "1"))
    c.connect("GND", (c.parts["C99"], "2"))
    assert any("[patient-lead] J2.5" in m for m in messages(rules.check_patient_leads(c)))


def test_isolation_rule_catches_a_bridge():
    c = sensor.build()
    r = c.add("R99", parts.RESISTORS["10k"], "10k")
    c.connect("TRIG_N", (r, "1"))
    c.connect("GND", (r, "2"))
    assert messages(rules.check_isolation(c)) == [
        "[isolation] R99: bridges the trigger isolation barrier"
    ]


def test_connect_refuses_a_pin_on_two_nets():
    c = sensor.build()
    with pytest.raises(ValueError, match="already on AFE_CS"):
        c.connect("GND", (c.parts["U2"], "CS"))


def test_ads1299_pin_table_is_complete():
    numbers = sorted(int(p.number) for p in parts.ADS1299.pins)
    assert numbers == list(range(1, 65))
    names = [p.name for p in parts.ADS1299.pins]
    for ch in range(1, 9):
        assert f"IN{ch}P" in names and f"IN{ch}N" in names
