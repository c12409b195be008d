"""pinmap.csv is the single source of the firmware's board file: check it against the
XIAO ESP32S3's real pads and special pins, and against the schematic."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
from muwatch_hw import rules, sensor

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_BOARD = ROOT / "firmware" / "boards" / "xiao_esp32s3.py"
SIGNALS = {
    "SPI_SCK",
    "SPI_MISO",
    "SPI_MOSI",
    "AFE_CS",
    "AFE_DRDY",
    "AFE_START",
    "AFE_RESET",
    "AFE_PWDN",
    "TRIGGER_IN",
    "BATTERY_ADC",
    "CHARGE_STAT",
    "LED",
}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return rules.load_pinmap()


@pytest.fixture(scope="module")
def circuit():
    return sensor.build()


def issues_for(circuit, rows, target: str, changes: dict[str, str]) -> list[str]:
    changed = copy.deepcopy(rows)
    for r in changed:
        if r["signal"] == target:
            r.update(changes)
    return [str(i) for i in rules.check_pinmap(circuit, changed)]


def test_pinmap_has_every_signal_the_firmware_uses(rows):
    assert {r["signal"] for r in rows} == SIGNALS


def test_pinmap_agrees_with_schematic_and_esp32s3(circuit, rows):
    issues = rules.check_pinmap(circuit, rows)
    assert issues == [], "\n".join(map(str, issues))


def test_afe_signals_reach_the_named_ads1299_pins(circuit, rows):
    for r in rows:
        if r["ads1299_pin"]:
            names = {(ref, name) for ref, _, name in circuit.pins_on(r["signal"])}
            assert ("U2", r["ads1299_pin"]) in names and ("U1", r["xiao_pad"]) in names


@pytest.mark.parametrize(
    ("signal", "change", "expected"),
    [
        ("AFE_DRDY", {"gpio": "4"}, "GPIO4 used twice"),
        ("AFE_CS", {"xiao_pad": "D5"}, "does not reach XIAO pad D5"),
        ("AFE_CS", {"ads1299_pin": "START"}, "does not reach ADS1299 pin START"),
        ("AFE_DRDY", {"direction": "out"}, "ADS1299 DRDY is output"),
        ("SPI_MOSI", {"direction": "in"}, "MCU reads it"),
        ("BATTERY_ADC", {"gpio": "12", "xiao_pad": ""}, "ADC1"),
        ("TRIGGER_IN", {"gpio": "44", "xiao_pad": "D7"}, "UART0 RX"),
        ("AFE_RESET", {"gpio": "0", "xiao_pad": ""}, "boot strapping pin"),
        ("AFE_START", {"gpio": "3", "xiao_pad": "D2"}, "GPIO3 strapping pin"),
        ("AFE_CS", {"gpio": "20", "xiao_pad": ""}, "native USB"),
        ("AFE_CS", {"gpio": "35", "xiao_pad": ""}, "octal PSRAM"),
        ("AFE_CS", {"board_pull": "10k down"}, "board_pull"),
        ("CHARGE_STAT", {"board_pull": ""}, "idles high"),
        ("SPI_SCK", {"signal": "SPI_CLK"}, "no net of that name"),
    ],
)
def test_pinmap_check_catches(circuit, rows, signal, change, expected):
    issues = issues_for(circuit, rows, signal, change)
    assert any(expected in i for i in issues), issues


def test_unlisted_mcu_net_is_reported(circuit, rows):
    issues = [
        str(i) for i in rules.check_pinmap(circuit, [r for r in rows if r["signal"] != "AFE_PWDN"])
    ]
    assert any("AFE_PWDN is not in pinmap.csv" in i for i in issues), issues


def _board_pins(path: Path) -> dict[str, int]:
    """Signal -> GPIO from a MicroPython board file: a PINS = {"SIGNAL": gpio} dict, or
    module constants named after the signals (SIGNAL = 5 / SIGNAL = const(5))."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, v = node.targets[0], node.value
        if not isinstance(target, ast.Name):
            continue
        if target.id == "PINS" and isinstance(v, ast.Dict):
            for k, val in zip(v.keys, v.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(val, ast.Constant):
                    found[str(k.value)] = int(val.value)
            continue
        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "const" and v.args:
            v = v.args[0]
        if isinstance(v, ast.Constant) and isinstance(v.value, int) and target.id in SIGNALS:
            found[target.id] = v.value
    return found


def test_firmware_board_file_agrees(rows):
    """The acceptance check of issue 9: the firmware's board file and pinmap.csv agree."""
    if not FIRMWARE_BOARD.exists():
        pytest.skip("firmware/boards/xiao_esp32s3.py not written yet (firmware area)")
    board = _board_pins(FIRMWARE_BOARD)
    if not board:
        pytest.skip("board file names no pins after pinmap signals; the firmware test covers it")
    wanted = {r["signal"]: int(r["gpio"]) for r in rows}
    diff = {s: (board.get(s), g) for s, g in wanted.items() if board.get(s) != g}
    assert not diff, (
        "firmware/boards/xiao_esp32s3.py disagrees with hardware/pinmap.csv "
        f"(signal: (board file, pinmap)): {diff}"
    )
