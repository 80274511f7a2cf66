"""Shared fixtures: the real data in ../shared/data (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; tests that need it fail loudly when it is missing."""
    assert SHARED_DATA.is_dir(), f"real data expected at {SHARED_DATA}"
    return SHARED_DATA
