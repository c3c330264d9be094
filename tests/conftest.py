"""Shared pytest fixtures.

``shared_data``: the upstream sources (``../shared/data`` beside the checkout, or
``$PGX_SHARED_DATA``). Tests marked ``@pytest.mark.shared_data`` are skipped with a
clear reason when that directory is absent, as on a user's fresh machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: where CI keeps the upstream data: a ``shared`` directory beside the checkout
SHARED_DATA = Path(os.environ.get("PGX_SHARED_DATA") or Path(__file__).parents[1].parent / "shared" / "data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``shared_data`` tests when the upstream data is not there."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(
        reason=f"upstream data not found at {SHARED_DATA}; set PGX_SHARED_DATA to run this test"
    )
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The upstream data directory (tests using it must be marked ``shared_data``)."""
    return SHARED_DATA
