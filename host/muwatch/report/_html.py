"""Small helpers shared by the reports: figure → embedded PNG, escaping, tables, page shell."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:.9em}.warn{color:#8a4b00}.idx{background:#fff6df}
.real{color:#b00020;font-weight:bold}figure{margin:1em 0}img{max-width:100%}
"""


def fig_png(fig: Figure) -> str:
    """An <img> with the figure embedded as PNG, its axes' titles as the alt text (screen
    readers, text search); the figure is closed."""
    alt = "; ".join(t for t in (ax.get_title() for ax in fig.axes) if t) or "figure"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def esc(x: Any) -> str:
    return html.escape(str(x))


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:.3e}"
    return esc(v)


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = []
    for r in rows:
        cells = []
        for v in r:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(f'<td class="{"num" if num else ""}">{fmt(v)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><tr>{h}</tr>{"".join(body)}</table>'


def page(title: str, parts: list[str]) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
