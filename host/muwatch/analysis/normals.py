"""Reference values and the literature's rules for a real change.

MUNIX and MUSIX normal values: Cao et al., Muscle Nerve 2020 (n = 150 healthy subjects,
mean ± SD; MUNIX falls with age). The normal range shown is mean ± 2 SD. These apply to MUNIX
computed with a supramaximal CMAP only: stimulator-free indices are never compared with them.

Change rules: MUNIX intra-rater CV is 14.0 ± 6.4 % (Neuwirth, PLoS One 2016); over 3-12 months
the 95th-percentile CV of a summed score is 15-22 %, so a MUNIX change of at least 20 % is
treated as real. For any other measure a change is real only outside the 95 % limits of the
person's own repeated baseline measures (smallest real difference, SRD = 1.96·√2·SD_within).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CAO_2020 = "Cao et al., Muscle Nerve 2020 (n = 150, mean ± SD)"
MUNIX_REAL_CHANGE = 0.20
MUNIX_CHANGE_SOURCE = "≥ 20 % change (Neuwirth 2016 reproducibility; 95th-percentile CV 15-22 %)"

# muscle -> (MUNIX mean, SD, MUSIX µV mean, SD)
_CAO = {
    "abductor pollicis brevis": (191.0, 43.6, 60.4, 12.5),
    "abductor digiti minimi": (179.1, 38.8, 59.3, 13.7),
    "biceps brachii": (179.7, 36.2, 43.8, 11.5),
    "tibialis anterior": (152.1, 38.8, 41.3, 10.7),
    "trapezius": (166.1, 40.7, 49.1, 15.2),
}
_ALIASES = {
    "apb": "abductor pollicis brevis",
    "adm": "abductor digiti minimi",
    "adq": "abductor digiti minimi",
    "biceps": "biceps brachii",
    "bb": "biceps brachii",
    "ta": "tibialis anterior",
    "tib ant": "tibialis anterior",
    "trap": "trapezius",
}


@dataclass(frozen=True)
class NormalRange:
    muscle: str
    measure: str
    mean: float
    sd: float
    unit: str
    source: str = CAO_2020

    @property
    def low(self) -> float:
        return self.mean - 2 * self.sd

    @property
    def high(self) -> float:
        return self.mean + 2 * self.sd


def canonical_muscle(name: str | None) -> str | None:
    """The table's muscle name for a user's spelling, or None when the table has no entry."""
    if not name:
        return None
    key = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    key = _ALIASES.get(key, key)
    return key if key in _CAO else None


def normal_range(muscle: str | None, measure: str) -> NormalRange | None:
    """Normal MUNIX or MUSIX range for a muscle (None where the table has none)."""
    m = canonical_muscle(muscle)
    if m is None or measure not in ("munix", "musix_uv"):
        return None
    mu, sd, ms, mssd = _CAO[m]
    if measure == "munix":
        return NormalRange(m, "MUNIX", mu, sd, "")
    return NormalRange(m, "MUSIX", ms, mssd, "µV")


@dataclass(frozen=True)
class ChangeVerdict:
    change: float | None  # relative change from baseline
    real: bool | None  # None: cannot judge
    rule: str


def judge_change(measure: str, baseline: list[float], value: float) -> ChangeVerdict:
    """Is `value` a real change from the baseline measures? MUNIX: |Δ| ≥ 20 % of the baseline
    mean. Others: outside mean ± SRD with SRD = 1.96·√2·SD of the repeated baseline measures
    (needs at least two)."""
    base = [b for b in baseline if b is not None and math.isfinite(b)]
    if not base:
        return ChangeVerdict(None, None, "no baseline")
    mean = sum(base) / len(base)
    rel = (value - mean) / mean if mean else None
    if measure == "munix":
        return ChangeVerdict(
            rel, rel is not None and abs(rel) >= MUNIX_REAL_CHANGE, MUNIX_CHANGE_SOURCE
        )
    if len(base) < 2:
        return ChangeVerdict(
            rel, None, "one baseline measure: repeat it to know the measurement's variation"
        )
    sd = math.sqrt(sum((b - mean) ** 2 for b in base) / (len(base) - 1))
    srd = 1.96 * math.sqrt(2.0) * sd
    return ChangeVerdict(
        rel, abs(value - mean) > srd, f"outside ± SRD ({srd:.3g}) of {len(base)} baseline measures"
    )
