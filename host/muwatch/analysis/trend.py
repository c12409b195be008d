"""A subject's results across sessions, and which changes are real.

Results come from the session index (`muwatch analyze` stores one row per measure). The baseline
is the first session plus any repeated within `baseline_days` of it (repeated baseline measures
give the person's own measurement variation). Each later value is judged with
`normals.judge_change`: MUNIX by the ≥ 20 % rule, anything else by the smallest real difference
from the repeated baseline. Normal ranges are shown only for MUNIX and MUSIX (Cao 2020), never
for the stimulator-free indices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from muwatch.analysis.normals import NormalRange, judge_change, normal_range

# measure key -> (label, unit, kind)
MEASURES: dict[str, tuple[str, str, str]] = {
    "munix": ("MUNIX", "", "index (MUNIX, needs a supramaximal CMAP)"),
    "musix_uv": ("MUSIX", "µV", "index (MUNIX, needs a supramaximal CMAP)"),
    "cmap_scan_mune": ("CMAP-scan MUNE", "units", "MUNE"),
    "poisson_mune": ("statistical MUNE", "units", "MUNE"),
    "incremental_mune": ("incremental MUNE", "units", "MUNE"),
    "sta_mune": ("STA MUNE", "units", "MUNE"),
    "cmap_amplitude_uv": ("CMAP amplitude", "µV", "measure"),
    "index.muap_count": ("MUAP count index", "units", "index, not MUNE"),
    "index.muap_rate_hz": ("MUAP rate", "/s", "index, not MUNE"),
    "index.mean_smuap_uv": ("mean surface-MUAP size", "µV", "index, not MUNE"),
    "qemg.p2p_uv": ("needle MUAP amplitude (mean)", "µV", "QEMG"),
    "qemg.duration_ms": ("needle MUAP duration (mean)", "ms", "QEMG"),
    "jitter_us": ("jitter (mean MCD)", "µs", "NMJ"),
    "jiggle_cad_percent": ("jiggle CAD (mean)", "%", "NMJ"),
}


def result_rows(analysis: dict[str, Any]) -> list[tuple[str, float, str, dict[str, Any]]]:
    """(measure key, value, unit, payload) rows to store for one analysis (to_dict() form)."""
    m, ind, units = analysis["methods"], analysis["indices"], analysis["units"]
    rows: list[tuple[str, float, str, dict[str, Any]]] = []

    def add(key: str, value: Any, payload: dict[str, Any]) -> None:
        if value is not None:
            rows.append(
                (key, float(value), MEASURES[key][1], {"kind": MEASURES[key][2], **payload})
            )

    mu = m.get("munix") or {}
    slim = {
        k: mu.get(k) for k in ("munix", "musix_uv", "r2", "n_accepted", "meets_guideline", "notes")
    }
    add("munix", mu.get("munix"), slim)
    add("musix_uv", mu.get("musix_uv"), slim)
    for key, name in (
        ("cmap_scan_mune", "cmap_scan"),
        ("poisson_mune", "poisson"),
        ("incremental_mune", "incremental"),
        ("sta_mune", "sta_mune"),
    ):
        r = m.get(name) or {}
        add(
            key,
            r.get("mune"),
            {
                k: v
                for k, v in r.items()
                if k in ("notes", "method", "smup_uv", "noise_uv", "preliminary_mune")
            },
        )
    add("cmap_amplitude_uv", (m.get("cmap") or {}).get("amplitude_uv"), {})
    s = ind.get("surface") or {}
    if s:
        ctx = {"force_label": s.get("force_label")}
        add("index.muap_count", s.get("muap_count_index"), ctx)
        add("index.muap_rate_hz", s.get("muap_rate_hz"), ctx)
        add("index.mean_smuap_uv", s.get("mean_smuap_uv"), ctx)
    q = analysis.get("qemg_summary") or {}
    for key, name in (("qemg.p2p_uv", "p2p_uv"), ("qemg.duration_ms", "duration_ms")):
        if isinstance(q.get(name), dict):
            add(key, q[name]["mean"], {"n_units": q.get("n_units")})
    jit = [u["jitter_us"] for u in units if u.get("jitter_us") is not None]
    if jit:
        add("jitter_us", sum(jit) / len(jit), {"n_units": len(jit)})
    cad = [u["jiggle_cad_percent"] for u in units if u.get("jiggle_cad_percent") is not None]
    if cad:
        add("jiggle_cad_percent", sum(cad) / len(cad), {"n_units": len(cad)})
    return rows


@dataclass
class TrendPoint:
    session_id: str
    when: str
    value: float
    baseline: bool
    change: float | None = None
    real: bool | None = None
    rule: str = ""


@dataclass
class TrendSeries:
    measure: str
    label: str
    unit: str
    kind: str
    points: list[TrendPoint] = field(default_factory=list)
    normal: NormalRange | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["normal"] = (
            {
                "mean": self.normal.mean,
                "sd": self.normal.sd,
                "low": self.normal.low,
                "high": self.normal.high,
                "source": self.normal.source,
                "muscle": self.normal.muscle,
            }
            if self.normal
            else None
        )
        if self.measure in ("munix", "musix_uv"):
            from muwatch.analysis.munix import CAVEAT

            d["note"] = CAVEAT  # the normal range is for orientation; the own baseline first
        return d


def _date(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    try:
        d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


def build_trend(
    sessions: list[tuple[str, str | None, str | None, dict[str, float]]],
    *,
    baseline_days: float = 14.0,
) -> list[TrendSeries]:
    """sessions: (session id, start time ISO, muscle, {measure: value}), any order."""
    rows = sorted(sessions, key=lambda r: (r[1] or "", r[0]))
    if not rows:
        return []
    first = _date(rows[0][1])
    out = []
    for key, (label, unit, kind) in MEASURES.items():
        pts = [(sid, when, v[key], mus) for sid, when, mus, v in rows if key in v]
        if not pts:
            continue
        muscle = next((m for *_, m in pts if m), None)
        ser = TrendSeries(
            key,
            label,
            unit,
            kind,
            normal=normal_range(muscle, key) if key in ("munix", "musix_uv") else None,
        )
        t0 = _date(pts[0][1]) or first
        base_vals: list[float] = []
        for i, (sid, when, val, _m) in enumerate(pts):
            d = _date(when)
            is_base = i == 0 or (
                d is not None
                and t0 is not None
                and (d - t0).total_seconds() <= baseline_days * 86400
                and all(p.baseline for p in ser.points)
            )
            p = TrendPoint(sid, when or "", float(val), is_base)
            if is_base:
                base_vals.append(float(val))
            else:
                v = judge_change(key, base_vals, float(val))
                p.change, p.real, p.rule = v.change, v.real, v.rule
            ser.points.append(p)
        out.append(ser)
    return out
