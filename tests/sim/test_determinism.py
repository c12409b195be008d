"""Same seed, same bytes; different seeds, different signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from muwatch import sim


@pytest.mark.parametrize("name", ["surface-noisy", "needle-steady"])
def test_same_seed_same_bytes(name: str, tmp_path: Path) -> None:
    a = sim.simulate(name, seconds=1.0, seed=11)
    b = sim.simulate(name, seconds=1.0, seed=11)
    for rec, stem in ((a, "a"), (b, "b")):
        codes = sim.to_ads1299_codes(rec.data)
        sim.write_signal_source(tmp_path / stem, codes, rec.fs, {"gain": 24, "seed": 11})
        sim.write_truth(tmp_path / f"{stem}.truth.json", rec.truth)
    assert (tmp_path / "a.i32").read_bytes() == (tmp_path / "b.i32").read_bytes()
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()


def test_different_seeds_differ() -> None:
    a = sim.simulate("surface-steady", seconds=1.0, seed=1)
    b = sim.simulate("surface-steady", seconds=1.0, seed=2)
    assert a.data.shape == b.data.shape
    assert not np.allclose(a.data, b.data)
    fa, fb = a.firings(), b.firings()
    assert any(len(x) != len(y) or not np.allclose(x, y) for x, y in zip(fa, fb, strict=False))
