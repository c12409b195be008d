"""Generated files (BOM, KiCad netlist, wiring SVG) are up to date and say what they should.
The netlist is read back with an S-expression reader written here, independent of the writer."""

from __future__ import annotations

import csv
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from muwatch_hw import outputs, rules, sensor

STALE = "stale: run .venv/bin/python hardware/build.py and commit the result"


def parse_sexpr(text: str):
    """Minimal S-expression reader: lists, quoted strings, bare atoms."""
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in "()":
            tokens.append(ch)
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    j += 1
                buf.append(text[j])
                j += 1
            tokens.append(("str", "".join(buf)))
            i = j + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '()"':
                j += 1
            tokens.append(("atom", text[i:j]))
            i = j
    stack: list[list] = [[]]
    for t in tokens:
        if t == "(":
            stack.append([])
        elif t == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(t[1])
    assert len(stack) == 1 and len(stack[0]) == 1, "unbalanced parentheses"
    return stack[0][0]


def children(node: list, key: str) -> list[list]:
    return [n for n in node if isinstance(n, list) and n and n[0] == key]


def child(node: list, key: str) -> list:
    found = children(node, key)
    assert len(found) == 1, (key, node[:3])
    return found[0]


@pytest.fixture(scope="module")
def generated():
    return outputs.generate()


def test_generated_files_are_up_to_date(generated):
    for path, text in generated.items():
        assert path.exists() and path.read_text() == text, f"{path.name} {STALE}"


def test_generation_is_deterministic(generated):
    assert outputs.generate() == generated


def test_build_script_check_mode_passes():
    out = subprocess.run(
        [sys.executable, str(outputs.HARDWARE_DIR / "build.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def kicad():
    return parse_sexpr(outputs.NETLIST.read_text())


def test_kicad_netlist_is_consistent(kicad):
    assert kicad[0] == "export" and child(kicad, "version")[1] == "E"
    comps = {child(c, "ref")[1]: c for c in child(kicad, "components")[1:]}
    libparts = {}
    for lp in child(kicad, "libparts")[1:]:
        pins = {
            child(p, "num")[1]: (child(p, "name")[1], child(p, "type")[1])
            for p in child(lp, "pins")[1:]
        }
        libparts[child(lp, "part")[1]] = pins
    on_board = {p.ref for p in sensor.build().parts.values() if p.on_board}
    assert set(comps) == on_board
    for ref, comp in comps.items():
        assert child(comp, "footprint")[1], ref
        assert child(child(comp, "libsource"), "part")[1] in libparts, ref
    used = set()
    for net in child(kicad, "nets")[1:]:
        nodes = children(net, "node")
        assert len(nodes) >= 2, child(net, "name")[1]
        for node in nodes:
            ref, pin = child(node, "ref")[1], child(node, "pin")[1]
            lib = child(child(comps[ref], "libsource"), "part")[1]
            assert libparts[lib][pin][0] == child(node, "pinfunction")[1]
            assert (ref, pin) not in used, f"{ref}.{pin} on two nets"
            used.add((ref, pin))


def test_kicad_netlist_wires_every_pinmap_signal(kicad):
    """Read from the exported file itself: the net named after each signal joins the XIAO
    pad and the ADS1299 pin that pinmap.csv names."""
    nets = {}
    for net in child(kicad, "nets")[1:]:
        nets[child(net, "name")[1].lstrip("/")] = {
            (child(n, "ref")[1], child(n, "pinfunction")[1]) for n in children(net, "node")
        }
    for row in rules.load_pinmap():
        if not row["xiao_pad"]:
            continue
        assert ("U1", row["xiao_pad"]) in nets[row["signal"]], row["signal"]
        if row["ads1299_pin"]:
            assert ("U2", row["ads1299_pin"]) in nets[row["signal"]], row["signal"]


def test_wiring_svg_shows_every_signal_and_lead():
    root = ET.fromstring(outputs.WIRING.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    wires = {el.get("data-signal") for el in root.iter(f"{ns}line") if el.get("data-signal")}
    pads = {r["signal"] for r in rules.load_pinmap() if r["xiao_pad"]}
    assert wires == pads
    text = " ".join(el.text or "" for el in root.iter(f"{ns}text"))
    for n in range(1, 18):
        assert f"J2.{n}" in text
    assert "BIASOUT (pin 63)" in text and "IN1P (pin 16)" in text


def test_bom_lists_what_issue_9_asks_for():
    with open(outputs.BOM, newline="") as f:
        bom = list(csv.DictReader(f))
    c = sensor.build()
    for line in bom:
        refs = line["refs"].split()
        if line["placement"] == "pcb":
            assert line["manufacturer"] not in ("", "any") and line["mpn"], line
            assert int(line["qty"]) == len(refs)
        assert line["description"], line
    assert sum(len(r["refs"].split()) for r in bom) == len(c.parts)
    text = " ".join(f"{r['mpn']} {r['description']}".lower() for r in bom)
    for need in [
        "113991114",  # Seeed XIAO ESP32S3 (8 MB PSRAM)
        "ads1299",
        "patient-lead current limit",  # input protection
        "low-leakage",  # input clamps
        "lipo cell",
        "lipo charger",  # on the XIAO
        "enclosure",
        "snap",
        "ag/agcl",
        "optocoupler",
    ]:
        assert need in text, need
