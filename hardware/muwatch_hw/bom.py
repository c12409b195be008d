"""Bill of materials from the same Circuit as the netlist: one line per distinct part."""

from __future__ import annotations

import csv
import io

from .kicad import _natural
from .netlist import Circuit

COLUMNS = ["item", "qty", "refs", "manufacturer", "mpn", "description", "footprint", "placement"]


def rows(c: Circuit) -> list[dict[str, str]]:
    groups: dict[tuple[str, str, str], list] = {}
    for p in c.parts.values():
        d = p.definition
        groups.setdefault((d.manufacturer, d.mpn, d.description), []).append(p)
    lines = []
    for (maker, mpn, desc), members in groups.items():
        members.sort(key=lambda p: _natural(p.ref))
        first = members[0]
        lines.append(
            {
                "qty": str(sum(p.qty for p in members)),
                "refs": " ".join(p.ref for p in members),
                "manufacturer": maker,
                "mpn": mpn,
                "description": desc,
                "footprint": first.definition.footprint,
                "placement": "pcb" if first.on_board else "off-board",
                "_key": (not first.on_board, _natural(first.ref)),
            }
        )
    lines.sort(key=lambda r: r["_key"])
    for i, r in enumerate(lines, start=1):
        r.pop("_key")
        r["item"] = str(i)
    return lines


def to_csv(c: Circuit) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows(c):
        w.writerow(r)
    return buf.getvalue()
