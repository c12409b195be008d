"""Fixtures of the host-bridge tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from muwatch.session import SessionStore


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "data")
