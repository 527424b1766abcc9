"""Fixtures shared by the interop tests."""

from __future__ import annotations

import pytest

from app.engine.registry import Registry, default_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


@pytest.fixture(scope="session")
def tiny_sd_checkpoint(tmp_path_factory):
    """A tiny random SD1.x checkpoint saved as a diffusers folder."""
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("interop-models") / "tiny-sd")
