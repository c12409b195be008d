"""The trend report of one subject: each measure across sessions, the normal range where the
literature has one (MUNIX/MUSIX, Cao 2020), and changes marked real only past the rule."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np

from muwatch.analysis.trend import TrendSeries
from muwatch.errors import StorageError
from muwatch.report._html import esc, fig_png, fmt, page, plt, table


def _series_figure(s: TrendSeries) -> str:
    x = np.arange(len(s.points))
    y = np.array([p.value for p in s.points])
    fig, ax = plt.subplots(figsize=(7, 3))
    if s.normal is not None:
        ax.axhspan(
            s.normal.low,
            s.normal.high,
            color="#dfeedd",
            label=f"normal {s.normal.muscle} (mean ± 2 SD, Cao 2020; orientation only)",
        )
        ax.axhline(s.normal.mean, color="#7fa779", lw=0.8)
    base = [p.value for p in s.points if p.baseline]
    if base and s.measure == "munix":
        m = float(np.mean(base))
        ax.axhspan(0.8 * m, 1.2 * m, color="#eeeeee", zorder=0, label="baseline ± 20 %")
    ax.plot(x, y, "-o", color="#1f4e79", ms=4)
    real = [i for i, p in enumerate(s.points) if p.real]
    if real:
        ax.scatter(
            x[real],
            y[real],
            s=90,
            facecolors="none",
            edgecolors="#b00020",
            lw=2,
            label="real change",
        )
    ax.set_xticks(x, [p.when[:10] or p.session_id[:10] for p in s.points], rotation=30, fontsize=7)
    ax.set_ylabel(f"{s.label} ({s.unit})" if s.unit else s.label)
    ax.set_title(f"{s.label} — {s.kind}", fontsize=10)
    if s.normal is not None or real or (base and s.measure == "munix"):
        ax.legend(fontsize=7)
    return fig_png(fig)


def write_trend_report(subject: str, series: list[TrendSeries], path: str | Path) -> Path:
    parts = [f"<h1>muwatch trend — {esc(subject)}</h1>"]
    if not series:
        parts.append(
            "<p>No analysed sessions for this subject yet (run <code>muwatch analyze</code>).</p>"
        )
    parts.append(
        "<p class='note'>A change is marked real only past the literature's threshold: MUNIX "
        "≥ 20 % from baseline (reproducibility studies); other measures outside the smallest real "
        "difference of the person's own repeated baseline. Indices are compared with the "
        "person's baseline only, never with MUNE normal values.</p>"
    )
    for s in series:
        parts.append(f"<h2>{esc(s.label)}</h2>")
        parts.append(_series_figure(s))
        rows = [
            [
                p.when[:19],
                p.session_id,
                p.value,
                "baseline"
                if p.baseline
                else (f"{100 * p.change:+.1f} %" if p.change is not None else "–"),
                "REAL"
                if p.real
                else ("no" if p.real is False else "cannot judge" if not p.baseline else ""),
                p.rule,
            ]
            for p in s.points
        ]
        parts.append(table(["when", "session", f"value {s.unit}", "change", "real", "rule"], rows))
        if s.normal is not None:
            parts.append(
                f"<p class='note'>Normal {esc(s.normal.measure)} for {esc(s.normal.muscle)}: {fmt(s.normal.mean)} ± {fmt(s.normal.sd)} ({esc(s.normal.source)}).</p>"
            )
        if s.measure in ("munix", "musix_uv"):
            from muwatch.analysis.munix import CAVEAT

            parts.append(f"<p class='note warn'>{esc(CAVEAT)}</p>")
    parts.append(f"<p class='note'>muwatch, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>")
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(page(f"muwatch trend {subject}", parts), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(out)
    except OSError as exc:
        raise StorageError(f"cannot write the trend report {out}: {exc.strerror}") from exc
    return out
