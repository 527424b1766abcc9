"""Fixtures shared by the interop tests."""

from __future__ import annotations

import pytest

from app.engine.registry import Registry, default_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()
