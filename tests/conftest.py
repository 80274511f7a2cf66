"""Shared fixtures: the real data in ../shared/data (never copied into the repository).

Tests that need it skip when it is absent, unless ``MGMRN_REQUIRE_DATA=1`` (set by CI's
``.ci/run``): then they fail, so that CI can never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mgmrn.utils.threads import configure

# The suite runs as mgmrn does, on the cores free at its start (README, 'CPU speed'); set
# here, before any test module loads torch.
configure()

SHARED_DATA = Path(os.environ.get("MGMRN_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
REQUIRED = os.environ.get("MGMRN_REQUIRE_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data`` (or ``$MGMRN_SHARED_DATA``); skips the test when missing."""
    if not SHARED_DATA.is_dir():
        message = (f"real data not found at {SHARED_DATA} (set MGMRN_SHARED_DATA; "
                   "README, 'Development')")
        if REQUIRED:
            pytest.fail(message + " and MGMRN_REQUIRE_DATA is set")
        pytest.skip(message)
    return SHARED_DATA
