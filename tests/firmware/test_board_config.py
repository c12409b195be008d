"""Board pin map against hardware/pinmap.csv; config in flash (defaults, validation, bad
files); low battery; watchdog."""

import csv
import json

import pytest
from mpy import ROOT, MicroPythonError
from muwatch.protocol import EventCode, StateReason, Status

PINMAP = ROOT / "hardware" / "pinmap.csv"


def test_board_pins_agree_with_the_hardware_pin_map(micropython):
    out = micropython.run(
        """
import json
from boards import xiao_esp32s3 as b
print(json.dumps({"pins": b.PINS, "inputs": list(b.INPUTS), "low": list(b.ACTIVE_LOW),
                  "pull_up": list(b.BOARD_PULL_UP)}))
"""
    )
    fw = json.loads(out)
    with PINMAP.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["signal"]: int(r["gpio"]) for r in rows} == fw["pins"]
    want_inputs = {r["signal"] for r in rows if r["direction"] == "in"}
    assert set(fw["inputs"]) == want_inputs
    assert set(fw["low"]) == {r["signal"] for r in rows if r.get("active") == "low"}
    pulled = {r["signal"] for r in rows if "up" in r.get("board_pull", "")}
    assert set(fw["pull_up"]) == pulled & want_inputs


def test_sim_board_is_the_xiao_pin_map(micropython):
    out = micropython.run(
        "from board_sim import SimBoard\nfrom boards import xiao_esp32s3 as b\n"
        "print(SimBoard.PINS is b.PINS, SimBoard().chip.spi_pins)"
    )
    same, pins = out.split(" ", 1)
    assert same == "True" and eval(pins) == (7, 9, 8)


def _events(r, code):
    return [e for e in r.events() if e.code == code]


def test_missing_config_means_defaults(fw):
    r = fw.run(
        "from fwharness import *\ndev, link = make_device('')\n"
        "link.request(P.OP_GET_STATUS, rid=1)\nhexframes(link.take())\n"
    )
    st = r.responses()[0].body
    assert st[-5:] == bytes((3, 0xFF, 6, 0, 0x18))  # 2 kHz, 8 channels, gain 24, normal, 24-bit


def test_unreadable_config_gives_defaults_a_log_and_keeps_the_file(fw, tmp_path):
    (tmp_path / "muwatch.json").write_text('{"rate_code": 2,, oops')
    r = fw.run(
        "from fwharness import *\ndev, link = make_device(ROOT)\n"
        "link.request(P.OP_GET_STATUS, rid=1)\nhexframes(link.take())\n"
    )
    logs = [e.event for e in _events(r, EventCode.LOG)]
    assert any("unreadable" in x.text and x.level == 2 for x in logs)
    assert (tmp_path / "muwatch.json.bad").read_text().startswith('{"rate_code": 2,,')
    assert r.responses()[0].body[-5:] == bytes((3, 0xFF, 6, 0, 0x18))


def test_bad_values_fall_back_per_key_with_a_message_each(fw, tmp_path):
    (tmp_path / "muwatch.json").write_text(
        json.dumps({"rate_code": 9, "gain_code": "24", "bogus": 1, "channel_mask": 3, "ble": 1})
    )
    r = fw.run(
        "from fwharness import *\ndev, link = make_device(ROOT)\n"
        "link.request(P.OP_GET_STATUS, rid=1)\nhexframes(link.take())\n"
    )
    texts = " | ".join(e.event.text for e in _events(r, EventCode.LOG))
    assert "rate_code: 9 outside 0..6" in texts
    assert "gain_code: expected an integer" in texts
    assert "'bogus' unknown" in texts
    assert "ble: expected true or false" in texts
    assert r.responses()[0].body[-5:] == bytes((3, 3, 6, 0, 0x18))  # channel_mask kept


def test_configure_persists_across_a_reboot(fw, tmp_path):
    fw.run(
        "from fwharness import *\ndev, link = make_device(ROOT)\n"
        "link.request(P.OP_CONFIGURE, bytes((1, 0x0F, 3, 2, 0x10)), rid=1)\n"
    )
    saved = json.loads((tmp_path / "muwatch.json").read_text())
    assert (saved["rate_code"], saved["channel_mask"], saved["gain_code"]) == (1, 0x0F, 3)
    r = fw.run(
        "from fwharness import *\ndev, link = make_device(ROOT)\n"
        "link.request(P.OP_GET_STATUS, rid=1)\n"
        "print('regs', bytes(dev.afe.dump_regs()).hex())\nhexframes(link.take())\n"
    )
    assert r.responses()[0].body[-5:] == bytes((1, 0x0F, 3, 2, 0x10))
    regs = bytes.fromhex(r.value("regs"))
    assert regs[1] == 0x95 and regs[5] == 0x30 and regs[4] == 0x02  # 500 SPS, gain 6, AC lead-off


def test_stored_rate_above_the_board_ceiling_is_not_used(fw, tmp_path):
    (tmp_path / "muwatch.json").write_text(json.dumps({"rate_code": 6}))
    r = fw.run(
        "from fwharness import *\ndev, link = make_device(ROOT)\n"
        "link.request(P.OP_GET_STATUS, rid=1)\nhexframes(link.take())\n"
    )
    assert any("above the board ceiling" in e.event.text for e in _events(r, EventCode.LOG))
    assert r.responses()[0].body[-5] == 3


def test_low_battery_warns_then_stops_streaming_at_the_cut_off(fw):
    r = fw.run(
        """
from fwharness import *
dev, link = make_device(ROOT)
link.request(P.OP_START, rid=1)
run(dev, 1_500_000)
world.battery_mv = 3450
run(dev, 1_500_000)
link.request(P.OP_GET_STATUS, rid=2)
world.battery_mv = 3250
run(dev, 1_500_000)
link.request(P.OP_START, rid=3)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    low = [e.event for e in _events(r, EventCode.BATTERY_LOW)]
    assert len(low) == 1 and low[0].millivolts == 3450 and 0 < low[0].percent < 10
    status = [x for x in r.responses() if x.request_id == 2][0].body
    assert status[-6] & 4  # link_flags: battery low
    states = [e.event for e in _events(r, EventCode.STATE)]
    assert states[-1].streaming == 0 and states[-1].reason == StateReason.LOW_BATTERY
    assert any(d.flags & 0x04 for d in r.data())  # BATTERY_LOW flag on frames after the warning
    again = [x for x in r.responses() if x.request_id == 3][0]
    assert again.status == Status.BUSY and b"cut-off" in again.body


def test_watchdog_resets_a_hung_main_loop_but_not_a_running_one(fw):
    with pytest.raises(MicroPythonError, match="exited 98") as ei:
        fw.run(
            """
from fwharness import *
dev, link = make_device(ROOT, wdt_ms=500)
run(dev, 3_000_000)   # the main loop feeds it: no reset
print("alive")
world.advance(600_000)  # the main loop stops running
print("not reset")
"""
        )
    assert "alive" in str(ei.value) and "not reset" not in str(ei.value)


def test_boot_after_a_watchdog_reset_says_so(fw):
    r = fw.run(
        "from fwharness import *\nworld.reset_cause = 3\ndev, link = make_device(ROOT)\n"
        "hexframes(link.take())\n"
    )
    assert any("watchdog" in e.event.text for e in _events(r, EventCode.LOG))
    st = _events(r, EventCode.STATE)[0].event
    assert st.reason == StateReason.WATCHDOG_OR_BOOT and st.streaming == 0


def test_the_led_shows_streaming(fw):
    r = fw.run(
        """
from fwharness import *
dev, link = make_device(ROOT)
led = world.pins[21]  # active low (hardware/pinmap.csv)
print("idle", led.value())
link.request(P.OP_START, rid=1)
print("streaming", led.value())
link.request(P.OP_STOP, rid=2)
print("stopped", led.value())
"""
    )
    assert (r.value("idle"), r.value("streaming"), r.value("stopped")) == ("1", "0", "1")


def test_usb_power_follows_charge_stat_in_get_status(fw):
    """The sim's timed scenario plugs then unplugs USB (CHARGE_STAT low, then back to the
    board's pull-up); GET_STATUS link_flags bit 3 follows the pin, while streaming too."""
    r = fw.run(
        """
from fwharness import *
import json
dev, link = make_device(ROOT)
t0 = world.now / 1e6
with open(ROOT + "/scenario.json", "w") as f:
    f.write(json.dumps([{"t": t0 + 0.5, "usb_power": True}, {"t": t0 + 1.5, "usb_power": False}]))
world._load_scenario(ROOT + "/scenario.json")
link.request(P.OP_GET_STATUS, rid=1)
link.request(P.OP_START, rid=2)
run(dev, 1_000_000)
link.request(P.OP_GET_STATUS, rid=3)
run(dev, 1_000_000)
link.request(P.OP_GET_STATUS, rid=4)
print("pin", world.pins[dev.board.PINS["CHARGE_STAT"]]._level)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    status = {x.request_id: x.result() for x in r.responses() if x.request_id in (1, 3, 4)}
    assert not status[1].usb_power  # default: on battery, pin held high by the pull-up
    assert status[3].usb_power and status[3].streaming
    assert not status[4].usb_power and r.value("pin") == "1"
    assert status[3].link_flags & 0xF0 == 0  # the reserved bits stay zero
