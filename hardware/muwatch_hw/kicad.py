"""Export a Circuit as a KiCad netlist (S-expression, format version "E", KiCad 6-8), the
file Pcbnew reads with File > Import > Netlist. Deterministic: no dates, stable UUIDs."""

from __future__ import annotations

import re
import uuid

from .netlist import Circuit, Part

_NS = uuid.UUID("6d770000-1762-447b-83a3-96d065c9e115")


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _natural(ref: str) -> tuple[str, int]:
    m = re.match(r"([A-Za-z]+)(\d+)$", ref)
    return (m.group(1), int(m.group(2))) if m else (ref, 0)


def export(c: Circuit) -> str:
    parts = sorted((p for p in c.parts.values() if p.on_board), key=lambda p: _natural(p.ref))
    out = ['(export (version "E")']
    out.append(f'  (design (source {_q(c.name)}) (tool "muwatch_hw"))')
    out.append("  (components")
    for p in parts:
        d = p.definition
        stamp = uuid.uuid5(_NS, p.ref)
        out.append(f"    (comp (ref {_q(p.ref)})")
        out.append(f"      (value {_q(p.value)})")
        out.append(f"      (footprint {_q(d.footprint)})")
        if d.datasheet:
            out.append(f"      (datasheet {_q(d.datasheet)})")
        out.append(
            f'      (fields (field (name "Manufacturer") {_q(d.manufacturer)}) '
            f'(field (name "MPN") {_q(d.mpn)}))'
        )
        out.append(
            f'      (libsource (lib "muwatch") (part {_q(_libname(p))}) (description {_q(d.description)}))'
        )
        out.append('      (sheetpath (names "/") (tstamps "/"))')
        out.append(f"      (tstamps {_q(str(stamp))}))")
    out.append("  )")
    out.append("  (libparts")
    seen: set[str] = set()
    for p in parts:
        name = _libname(p)
        if name in seen:
            continue
        seen.add(name)
        d = p.definition
        out.append(f'    (libpart (lib "muwatch") (part {_q(name)})')
        out.append(f"      (description {_q(d.description)})")
        out.append("      (pins")
        for pin in d.pins:
            out.append(
                f"        (pin (num {_q(pin.number)}) (name {_q(pin.name)}) (type {_q(pin.type.value)}))"
            )
        out.append("      ))")
    out.append("  )")
    out.append("  (nets")
    for code, net in enumerate(sorted(c.nets.values(), key=lambda n: n.name), start=1):
        out.append(f"    (net (code {_q(str(code))}) (name {_q('/' + net.name)})")
        nodes = sorted(net.nodes, key=lambda n: (_natural(n[0].ref), int(n[1].number)))
        for part, pin in nodes:
            out.append(
                f"      (node (ref {_q(part.ref)}) (pin {_q(pin.number)}) "
                f"(pinfunction {_q(pin.name)}) (pintype {_q(pin.type.value)}))"
            )
        out.append("    )")
    out.append("  )")
    out.append(")")
    return "\n".join(out) + "\n"


def _libname(p: Part) -> str:
    """One libpart per distinct part (two resistors of different MPN share the symbol R)."""
    d = p.definition
    return d.name if d.name not in ("R", "C", "FB") else f"{d.name}_{d.mpn}"
