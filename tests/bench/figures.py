"""The form every benchmark reports in: build/bench/<area>.json mapping a metric name to
{"value": number, "unit": "...", "baseline": "what a ratio is measured against"}."""

from __future__ import annotations

import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "build" / "bench"


def figure(value: float, unit: str, baseline: str = "") -> dict[str, object]:
    """One metric; `baseline` names what a ratio or target is measured against."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"benchmark value is not finite: {value}")
    return {"value": value, "unit": unit, "baseline": baseline}


def write_area(area: str, figures: dict[str, dict[str, object]]) -> Path:
    """Write build/bench/<area>.json and print the figures as a table."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"{area}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    width = max((len(k) for k in figures), default=10)
    print(f"[{area}] -> {path.relative_to(ROOT)}")
    for name, fig in figures.items():
        value = fig["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        base = f"  (vs {fig['baseline']})" if fig.get("baseline") else ""
        print(f"  {name:<{width}}  {shown} {fig['unit']}{base}")
    return path
