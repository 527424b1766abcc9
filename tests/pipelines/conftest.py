"""Session fixtures: tiny random SD1.x / SDXL checkpoints, loaded both by us and by diffusers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread per test (restored after): the tiny models gain nothing from more,
    and on a loaded 2-core machine spinning OpenMP workers can make a run 20x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def no_inductor():
    """torch.compile as the identity, compiling available: acceleration's path in seconds."""
    from pipelines.testing.no_inductor import no_inductor

    with no_inductor():
        yield


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("pipelines-models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    """(DiffusionModel, TextEncoder, Vae) loaded through our loader."""
    from pipelines.loading.checkpoint import load_checkpoint

    return load_checkpoint(tiny_dir)


@pytest.fixture(scope="session")
def prompts(tiny):
    """(positive, negative) conditioning for the prompt the parity tests use."""
    from pipelines.text.conditioning import encode_text

    _, clip, _ = tiny
    return encode_text(clip, "a red circle on a blue square"), encode_text(clip, "")


@pytest.fixture(scope="session")
def sd_pipe(tiny_dir):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        tiny_dir, local_files_only=True, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("pipelines-models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_sdxl(tiny_sdxl_dir):
    from pipelines.loading.checkpoint import load_checkpoint

    return load_checkpoint(tiny_sdxl_dir)


@pytest.fixture(scope="session")
def sdxl_pipe(tiny_sdxl_dir):
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe
