"""Wiring diagram (SVG) drawn from the Circuit and pinmap.csv, so it cannot drift from them.

Three panels: MCU to front-end signals (one straight wire per pin-map row), the supply
chain, and the electrode leads. Signal names, pads, GPIOs, pin numbers, part references
and values are read from the data.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from .netlist import Circuit, Part
from .parts import XIAO_PAD_GPIO

W = 1000
ROW = 26
COLORS = {
    "SPI": "#1f5fbf",
    "AFE": "#1d8a3a",
    "in": "#c26a00",
    "analog": "#7a3db8",
    "power": "#c0392b",
}


class Svg:
    def __init__(self) -> None:
        self.items: list[str] = []

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str = "#f7f7f7", stroke: str = "#333"
    ) -> None:
        self.items.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: int = 13,
        anchor: str = "start",
        weight: str = "normal",
        color: str = "#111",
    ) -> None:
        self.items.append(
            f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{color}">{escape(s)}</text>'
        )

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        color: str = "#333",
        width: float = 2,
        signal: str = "",
    ) -> None:
        data = f' data-signal="{escape(signal)}"' if signal else ""
        self.items.append(
            f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{color}" '
            f'stroke-width="{width}"{data}/>'
        )

    def arrow(self, x1: float, y: float, x2: float, color: str = "#333") -> None:
        self.line(x1, y, x2 - 6, y, color)
        self.items.append(
            f'<polygon points="{x2:.0f},{y:.0f} {x2 - 8:.0f},{y - 4:.0f} {x2 - 8:.0f},{y + 4:.0f}" fill="{color}"/>'
        )

    def render(self, height: float) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height:.0f}" '
            f'viewBox="0 0 {W} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif">'
        )
        return (
            "\n".join(
                [
                    head,
                    f'<rect width="{W}" height="{height:.0f}" fill="white"/>',
                    *self.items,
                    "</svg>",
                ]
            )
            + "\n"
        )


def _color(sig: str, direction: str) -> str:
    if sig.startswith("SPI"):
        return COLORS["SPI"]
    if sig.startswith("AFE"):
        return COLORS["AFE"]
    return COLORS["analog"] if direction == "analog" else COLORS["in"]


def _peer(c: Circuit, net: str, exclude: set[str]) -> str:
    """Describe the parts on a net other than the excluded ones: 'U6 LTV-817S C'."""
    names = []
    for ref, num, pin in c.pins_on(net):
        if ref in exclude:
            continue
        part: Part = c.parts[ref]
        if len(part.definition.pins) == 2:
            other = c.net_of(part, "2" if num == "1" else "1")
            names.append(f"{ref} {part.value} to {other.name if other else '?'}")
        else:
            names.append(f"{ref} {part.value} {pin}")
    return ", ".join(names)


def draw(c: Circuit, pinmap: list[dict[str, str]]) -> str:
    s = Svg()
    s.text(
        20,
        30,
        "muwatch sensor: wiring diagram (generated from hardware/muwatch_hw and pinmap.csv)",
        16,
        weight="bold",
    )
    s.text(
        20,
        50,
        "Battery only while electrodes are on a person. See docs/safety.md.",
        12,
        color=COLORS["power"],
    )

    # Panel 1: MCU pads to the ADS1299 and the peripheral circuits.
    rows = [r for r in pinmap if r["xiao_pad"]]
    rows.sort(key=lambda r: (r["ads1299_pin"] == "", list(XIAO_PAD_GPIO).index(r["xiao_pad"])))
    top = 90
    n_afe = sum(1 for r in rows if r["ads1299_pin"])
    s.rect(20, top - 30, 220, ROW * len(rows) + 40)
    s.text(130, top - 12, "U1 Seeed XIAO ESP32S3", 13, "middle", "bold")
    s.rect(700, top - 30, 280, ROW * n_afe + 30)
    s.text(840, top - 12, "U2 ADS1299 (TQFP-64)", 13, "middle", "bold")
    afe = c.parts["U2"]
    for i, r in enumerate(rows):
        y = top + 14 + i * ROW
        color = _color(r["signal"], r["direction"])
        s.text(30, y + 4, f"{r['xiao_pad']}  GPIO{r['gpio']}", 12)
        if r["ads1299_pin"]:
            num = afe.pin(r["ads1299_pin"]).number
            s.line(240, y, 700, y, color, signal=r["signal"])
            s.text(470, y - 5, r["signal"], 12, "middle", "bold", color)
            s.text(710, y + 4, f"{r['ads1299_pin']} (pin {num})", 12)
        else:
            s.line(240, y, 560, y, color, signal=r["signal"])
            s.text(400, y - 5, r["signal"], 12, "middle", "bold", color)
            peer = _peer(c, r["signal"], {"U1"})
            s.text(566, y + 4, peer, 11)
    y = top + ROW * len(rows) + 30
    led = [r for r in pinmap if not r["xiao_pad"]]
    for r in led:
        s.text(30, y, f"GPIO{r['gpio']} {r['signal']}: {r['function']}", 11, color="#555")
        y += 16

    # Panel 2: supply chain.
    y += 20
    s.text(
        20,
        y,
        "Supplies (bipolar: AVDD +2.5 V, AVSS -2.5 V, digital ground = analog mid-supply)",
        14,
        weight="bold",
    )
    y += 20
    chains = [
        ["J1 battery", "SW1 power", "U1 BAT+ (charger on the XIAO)"],
        ["U1 3V3", "FB1", "DVDD: U2 DVDD, CLKSEL; pull-ups"],
        ["U1 3V3", "FB2", "V3A", f"U4 {c.parts['U4'].value}", "AVDD +2.5 V"],
        ["V3A", f"U3 {c.parts['U3'].value}", "VNEG", f"U5 {c.parts['U5'].value}", "AVSS -2.5 V"],
        ["U1 5V (USB)", "100k/1M", "Q1 BSS138", "CHARGE_STAT low = USB power present"],
        [
            "J3 stimulator TTL sync",
            "330R",
            f"U6 {c.parts['U6'].value} (isolation barrier)",
            "TRIGGER_IN low while trigger high",
        ],
    ]
    for chain in chains:
        x = 30
        for k, label in enumerate(chain):
            w = 9 * len(label) + 16
            s.rect(x, y, w, 24, "#fff4f2", COLORS["power"])
            s.text(x + w / 2, y + 16, label, 12, "middle")
            x += w
            if k < len(chain) - 1:
                s.arrow(x, y + 12, x + 26, COLORS["power"])
                x += 26
        y += 34

    # Panel 3: electrode leads, from the patient-lead pins of J2.
    y += 14
    s.text(
        20,
        y,
        "Electrode leads: J2 pin -> lead resistor -> ADS1299 input (each input also: BAV199 clamp to AVDD/AVSS, 220 pF to GND)",
        13,
        weight="bold",
    )
    y += 16
    j2 = c.parts["J2"]
    col_w, per_col = 320, 9
    for k, num in enumerate(sorted(j2.patient_lead, key=int)):
        x0 = 30 + (k // per_col) * col_w
        yy = y + 14 + (k % per_col) * 22
        lead = c.net_of(j2, num)
        assert lead is not None
        res = next(p for p, pin in lead.nodes if p is not j2)
        far = c.net_of(res, "2")
        assert far is not None
        target = [f"{name} (pin {n})" for ref, n, name in c.pins_on(far.name) if ref == "U2"]
        s.text(x0, yy, f"J2.{num}", 12, weight="bold")
        s.arrow(x0 + 44, yy - 4, x0 + 74, "#555")
        s.text(x0 + 78, yy, f"{res.ref} {res.value}", 12)
        s.arrow(x0 + 150, yy - 4, x0 + 180, "#555")
        s.text(x0 + 184, yy, target[0] if target else far.name, 12)
        if target and target[0].startswith("BIASOUT"):
            s.text(x0 + 184, yy + 16, "bias (ground) electrode", 11, color="#555")
    y += 14 + per_col * 22 + 10
    for num, reason in sorted(j2.no_connect.items(), key=lambda kv: int(kv[0])):
        s.text(30, y, f"J2.{num}: not connected ({reason})", 11, color="#555")
        y += 15
    return s.render(y + 20)
