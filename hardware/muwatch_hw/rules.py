"""Project rules on top of the generic ERC: the pin map, the ESP32-S3's special pins,
patient-lead current limits and the trigger isolation barrier."""

from __future__ import annotations

import csv
from pathlib import Path

from .netlist import Circuit, ErcIssue, Part, PinType
from .parts import XIAO_PAD_GPIO

HARDWARE_DIR = Path(__file__).resolve().parent.parent
PINMAP = HARDWARE_DIR / "pinmap.csv"
PINMAP_COLUMNS = [
    "signal",
    "gpio",
    "xiao_pad",
    "direction",
    "ads1299_pin",
    "function",
    "active",
    "board_pull",
]

# ESP32-S3 (ESP32-S3 datasheet v1.x, "Strapping pins" and "GPIO pins"; XIAO ESP32S3 uses the
# ESP32-S3R8 with octal PSRAM).
STRAPPING_BOOT = {0, 45, 46}  # boot mode / VDD_SPI: never wire a signal that could pull them
STRAPPING_JTAG = {3}  # read only when eFuse STRAP_JTAG_SEL is burned (it is not on the XIAO)
USB_PINS = {19, 20}
FLASH_PSRAM_PINS = set(range(26, 38))  # SPI flash 26-32, octal PSRAM 33-37
UART0_TX, UART0_RX = 43, 44  # ROM log and MicroPython's UART REPL (ESP32_GENERIC_S3 enables it)
ADC1_PINS = set(range(1, 11))  # ADC2 (11-20) is unusable while the radio runs
ONBOARD_LED_GPIO = 21
# Signals whose edges are timed: on UART0 RX they would also reach the REPL's input.
TIMED_SIGNALS = {"TRIGGER_IN", "AFE_DRDY", "SPI_MISO", "SPI_SCK", "SPI_MOSI"}

# IEC 60601-1:2005+A1:2012, 8.7.3 Table 3, type BF applied part, d.c. patient leakage /
# patient auxiliary current in single fault condition (the tightest d.c. limit that a
# component fault can reach).
LIMIT_DC_SFC_A = 50e-6
LIMIT_DC_NC_A = 10e-6
RESISTOR_TOLERANCE = 0.01
# Highest potential (magnitude) of any net on the board, in volts, USB included.
NET_VOLTAGES = {
    "USB_5V": 5.25,
    "VBAT_RAW": 4.2,
    "VBAT": 4.2,
    "3V3": 3.3,
    "V3A": 3.3,
    "DVDD": 3.3,
    "AVDD": 2.5,
    "AVSS": -2.5,
    "VNEG": -3.3,
    "VREFP": 2.0,
    "GND": 0.0,
}
ANALOG_SWING = 2.5  # a healthy patient connection can sit anywhere within the analog rails


def load_pinmap(path: Path = PINMAP) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != PINMAP_COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames}, expected {PINMAP_COLUMNS}")
        return list(reader)


def parse_ohms(value: str) -> float:
    """'100k' -> 100e3, '1M' -> 1e6, '330' -> 330."""
    v = value.split("_")[0]
    scale = {"k": 1e3, "M": 1e6}.get(v[-1], 1.0)
    return float(v[:-1] if scale != 1.0 else v) * scale


def min_lead_resistance() -> float:
    """Smallest per-lead series resistance that keeps a single fault within the d.c. limit:
    one lead shorted to the highest board potential, another lead at the opposite analog
    rail, the current passing through both leads' resistors."""
    v_fault = max(abs(v) for v in NET_VOLTAGES.values()) + ANALOG_SWING
    return v_fault / (2 * LIMIT_DC_SFC_A)


def _issue(rule: str, where: str, msg: str) -> ErcIssue:
    return ErcIssue(rule, where, msg)


def check_pinmap(c: Circuit, rows: list[dict[str, str]]) -> list[ErcIssue]:
    """Every pin-map signal is a net wiring the named XIAO pad (and ADS1299 pin), with a
    direction that matches the ADS1299 pin, on a GPIO that is safe to use that way."""
    issues: list[ErcIssue] = []
    mcu, afe = c.parts["U1"], c.parts["U2"]
    seen_sig: set[str] = set()
    seen_gpio: set[int] = set()
    for row in rows:
        sig, pad, ads = row["signal"], row["xiao_pad"], row["ads1299_pin"]
        where = f"pinmap {sig}"
        if sig in seen_sig:
            issues.append(_issue("pinmap", where, "signal listed twice"))
        seen_sig.add(sig)
        try:
            gpio = int(row["gpio"])
        except ValueError:
            issues.append(_issue("pinmap", where, f"gpio {row['gpio']!r} is not a number"))
            continue
        if gpio in seen_gpio:
            issues.append(_issue("pinmap", where, f"GPIO{gpio} used twice"))
        seen_gpio.add(gpio)
        issues.extend(_check_gpio(sig, gpio, row))
        if row["direction"] not in ("in", "out", "analog"):
            issues.append(
                _issue("pinmap", where, f"direction {row['direction']!r} not in/out/analog")
            )
        if not pad:
            if gpio != ONBOARD_LED_GPIO:
                issues.append(
                    _issue(
                        "pinmap", where, "no XIAO pad: only the on-board LED (GPIO21) may lack one"
                    )
                )
            continue
        if XIAO_PAD_GPIO.get(pad) != gpio:
            issues.append(
                _issue(
                    "pinmap",
                    where,
                    f"XIAO pad {pad} is GPIO{XIAO_PAD_GPIO.get(pad)}, not GPIO{gpio}",
                )
            )
        if sig not in c.nets:
            issues.append(_issue("pinmap", where, "no net of that name in the schematic"))
            continue
        nodes = {(ref, name) for ref, _, name in c.pins_on(sig)}
        if (mcu.ref, pad) not in nodes:
            issues.append(_issue("pinmap", where, f"net {sig} does not reach XIAO pad {pad}"))
        if ads:
            if (afe.ref, ads) not in nodes:
                issues.append(
                    _issue("pinmap", where, f"net {sig} does not reach ADS1299 pin {ads}")
                )
            else:
                t = afe.pin(ads).type
                want_out = row["direction"] == "out"
                if want_out and t is not PinType.INPUT:
                    issues.append(
                        _issue("pinmap", where, f"MCU drives it but ADS1299 {ads} is {t.value}")
                    )
                if not want_out and t not in (PinType.OUTPUT, PinType.TRI_STATE):
                    issues.append(
                        _issue("pinmap", where, f"MCU reads it but ADS1299 {ads} is {t.value}")
                    )
        issues.extend(_check_pull(c, sig, row["board_pull"]))
    # Every MCU pad that carries a signal must be in the pin map (the firmware knows only it).
    for ref, _, name in (n for net in c.nets.values() for n in c.pins_on(net.name)):
        if ref == mcu.ref and name.startswith("D"):
            net = c.net_of(mcu, mcu.pin(name).number)
            if net is not None and net.name not in seen_sig:
                issues.append(
                    _issue("pinmap", f"XIAO {name}", f"net {net.name} is not in pinmap.csv")
                )
    return issues


def _check_gpio(sig: str, gpio: int, row: dict[str, str]) -> list[ErcIssue]:
    where = f"pinmap {sig} (GPIO{gpio})"
    out: list[ErcIssue] = []
    if gpio in STRAPPING_BOOT:
        out.append(_issue("gpio", where, "boot strapping pin"))
    if gpio in STRAPPING_JTAG and row["direction"] != "in":
        out.append(
            _issue("gpio", where, "GPIO3 strapping pin: only an input driven after boot is safe")
        )
    if gpio in USB_PINS:
        out.append(_issue("gpio", where, "native USB D-/D+"))
    if gpio in FLASH_PSRAM_PINS:
        out.append(_issue("gpio", where, "used by the flash / octal PSRAM"))
    if row["direction"] == "analog" and gpio not in ADC1_PINS:
        out.append(
            _issue(
                "gpio",
                where,
                "analog input must be on ADC1 (GPIO1-10): ADC2 is blocked by the radio",
            )
        )
    if gpio == UART0_TX and row["direction"] != "out":
        out.append(
            _issue("gpio", where, "UART0 TX is driven by the ROM boot log: only an output fits")
        )
    if gpio == UART0_RX:
        if row["direction"] != "in" or sig in TIMED_SIGNALS:
            out.append(
                _issue(
                    "gpio",
                    where,
                    "UART0 RX feeds MicroPython's UART REPL: only a rarely changing input fits",
                )
            )
        elif not row["board_pull"].endswith(" up"):
            out.append(
                _issue("gpio", where, "UART0 RX needs a pull-up so it idles high (UART idle)")
            )
    return out


def _check_pull(c: Circuit, sig: str, pull: str) -> list[ErcIssue]:
    """'10k up' means a 10 k resistor from the signal to a supply; '10k down' to GND."""
    if not pull or " " not in pull or pull.split()[-1] not in ("up", "down"):
        return []
    value, direction = pull.split()[0], pull.split()[-1]
    for part in c.parts.values():
        if part.definition.name != "R" or parse_ohms(part.value) != parse_ohms(value):
            continue
        a, b = (c.net_of(part, "1"), c.net_of(part, "2"))
        if a is None or b is None or sig not in (a.name, b.name):
            continue
        other = b.name if a.name == sig else a.name
        if direction == "down" and other == "GND":
            return []
        if direction == "up" and NET_VOLTAGES.get(other, 0.0) > 3.0:
            return []
    return [_issue("pull", f"pinmap {sig}", f"board_pull {pull!r} not found in the schematic")]


def check_patient_leads(c: Circuit) -> list[ErcIssue]:
    """Each patient connection reaches the circuit only through one resistor of at least
    min_lead_resistance() (with its tolerance), and never directly another lead."""
    issues: list[ErcIssue] = []
    r_min = min_lead_resistance()
    leads = [(p, num) for p in c.parts.values() for num in sorted(p.patient_lead)]
    if not leads:
        return [_issue("patient-lead", "schematic", "no pin is marked as a patient lead")]
    lead_nets = {c.net_of(p, n).name for p, n in leads if c.net_of(p, n) is not None}
    for part, num in leads:
        where = f"{part.ref}.{num}"
        net = c.net_of(part, num)
        if net is None:
            issues.append(_issue("patient-lead", where, "patient lead pin not connected"))
            continue
        others = [(p, pin) for p, pin in net.nodes if not (p is part and pin.number == num)]
        if len(others) != 1 or others[0][0].definition.name != "R":
            desc = ", ".join(f"{p.ref}.{pin.number}" for p, pin in others)
            issues.append(
                _issue("patient-lead", where, f"must meet exactly one resistor, meets {desc}")
            )
            continue
        res: Part = others[0][0]
        ohms = parse_ohms(res.value) * (1 - RESISTOR_TOLERANCE)
        if ohms < r_min:
            issues.append(
                _issue(
                    "patient-lead", where, f"{res.ref} {res.value} < {r_min / 1e3:.1f} kohm needed"
                )
            )
        far = c.net_of(res, "2" if others[0][1].number == "1" else "1")
        if far is not None and far.name in lead_nets:
            issues.append(_issue("patient-lead", where, f"{res.ref} joins two patient leads"))
    return issues


# The stimulator side of the trigger input: mains-connected equipment plugs in here.
ISOLATED_NETS = {"TRIG_P", "TRIG_N", "TRIG_LED"}
ISOLATORS = {"LTV-817S"}


def check_isolation(c: Circuit) -> list[ErcIssue]:
    """Only an isolator may have pins both on the stimulator side and on the sensor side."""
    issues: list[ErcIssue] = []
    for part in c.parts.values():
        sides = set()
        for pin in part.definition.pins:
            net = c.net_of(part, pin.number)
            if net is not None:
                sides.add(net.name in ISOLATED_NETS)
        if sides == {True, False} and part.definition.name not in ISOLATORS:
            issues.append(_issue("isolation", part.ref, "bridges the trigger isolation barrier"))
    for net in ISOLATED_NETS:
        if net not in c.nets:
            issues.append(_issue("isolation", net, "isolated net missing"))
    return issues


def check_all(c: Circuit, rows: list[dict[str, str]] | None = None) -> list[ErcIssue]:
    rows = load_pinmap() if rows is None else rows
    return c.check() + check_pinmap(c, rows) + check_patient_leads(c) + check_isolation(c)
