"""Shared fixtures: the path to ../shared/data, skipped with a reason where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def shared_data(*parts: str) -> Path:
    """A path inside ../shared/data, or skip the test: a fresh clone of seglab has no shared data."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data {path} is absent (only present beside the developers' checkout)")
    return path


@pytest.fixture
def shared() -> type:
    class _Shared:
        path = staticmethod(shared_data)

    return _Shared
