"""The generated files and where they live; used by build.py and the tests."""

from __future__ import annotations

from pathlib import Path

from . import bom, kicad, rules, sensor, svg
from .netlist import ErcIssue

HARDWARE_DIR = rules.HARDWARE_DIR
BOM = HARDWARE_DIR / "bom.csv"
NETLIST = HARDWARE_DIR / "muwatch-sensor.net"
WIRING = HARDWARE_DIR / "wiring.svg"


def erc() -> list[ErcIssue]:
    return rules.check_all(sensor.build(), rules.load_pinmap())


def generate() -> dict[Path, str]:
    c = sensor.build()
    pinmap = rules.load_pinmap()
    return {BOM: bom.to_csv(c), NETLIST: kicad.export(c), WIRING: svg.draw(c, pinmap)}
