"""Test-wide settings: headless Qt, no model hub, small thread counts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="long fuzz runs: thousands of cases per target (tests/fuzz)")


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis profiles: "ci" (a few hundred derandomized cases in all, seconds) and,
    with --slow, "slow" (thousands per target, random, minutes)."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # the dev extra is not installed: tests/fuzz skips itself
        return
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                              database=None, suppress_health_check=quiet)
    settings.register_profile("slow", max_examples=3000, deadline=None, database=None,
                              suppress_health_check=quiet)
    settings.load_profile("slow" if config.getoption("--slow") else "ci")


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """One intra-op thread per test: the tiny models gain nothing from more, and spinning
    OpenMP workers on a busy 2-core machine can make a run many times slower."""
    import sys

    if "torch" not in sys.modules:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _allow_test_folders(tmp_path_factory):
    """Tests build their tiny models and images in temporary folders and name them by full
    path: allow those folders as a user would with $STUDIO_ALLOW_PATHS (see
    pipelines/loading/file_policy.py). Tests of the confinement itself use folders outside it."""
    from pipelines.loading.file_policy import ALLOW_ENV

    os.environ[ALLOW_ENV] = str(tmp_path_factory.getbasetemp())
    yield
