"""Issue 9 acceptance: README links the build guide and states the safety rules; the guide
walks from parts to a first `muwatch info`; the documents' links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "build-guide.md",
    ROOT / "docs" / "safety.md",
    ROOT / "hardware" / "README.md",
    ROOT / "hardware" / "electrode-placement.md",
    ROOT / "hardware" / "hil-bench.md",
]


def test_readme_links_build_guide_and_safety():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/build-guide.md)" in readme and "](docs/safety.md)" in readme
    assert "battery only" in readme and "clinical supervision" in readme and "IEC 60601-1" in readme


def test_build_guide_goes_from_parts_to_muwatch_info():
    guide = (ROOT / "docs" / "build-guide.md").read_text()
    steps = [
        "hardware/bom.csv",
        "muwatch-sensor.net",
        "make flash PORT=",
        "make deploy PORT=",
        "muwatch pair muw-",
        "muwatch info muw-",
    ]
    positions = [guide.find(s) for s in steps]
    assert all(p >= 0 for p in positions), dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions), "steps out of order"


def test_safety_states_the_rules_and_limits():
    text = (ROOT / "docs" / "safety.md").read_text()
    for need in [
        "Battery only while electrodes are on a person",
        "clinical supervision",
        "IEC 60601-1",
        "type BF",
        "isolation",
        "| 10 | 50 | 100 | 500 |",
    ]:
        assert need.lower() in text.lower(), need


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).resolve().exists(), f"{doc.name}: broken link {target}"
