"""Shared pytest fixtures: the MicroPython runner and the options of the HIL suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpy import MicroPython  # noqa: E402


@pytest.fixture
def micropython() -> MicroPython:
    """Run code inside the real MicroPython unix port with firmware/ on its path."""
    return MicroPython()
