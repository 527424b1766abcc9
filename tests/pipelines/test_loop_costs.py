"""Per-step costs of the denoising loop: no dtype walks, no host reads or device moves of our
own, whatever the number of steps (a GPU must never wait for Python between steps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers.models.modeling_utils import ModelMixin

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.sampling.denoise import _kept_latents, denoise
from pipelines.sampling.samplers import make_scheduler
from pipelines.values import Latent, Noise
from tests.pipelines.host_reads import HostReads

SHAPE = (1, 4, 8, 8)


def _run(model, prompts, steps: int, **kwargs) -> Latent:
    positive, negative = prompts
    latent = kwargs.pop("latent", Latent(samples=torch.zeros(SHAPE)))
    return denoise(model, positive, negative, latent, Noise(5), steps=steps, cfg=7.5,
                   callback=lambda i, n, x0: None, **kwargs)


@pytest.fixture()
def dtype_walks(monkeypatch):
    """Counts reads of diffusers' ``ModelMixin.dtype`` (a walk over every submodule)."""
    calls = []
    original = ModelMixin.dtype

    def counted(self):
        calls.append(1)
        return original.fget(self)

    monkeypatch.setattr(ModelMixin, "dtype", property(counted))
    return calls


@pytest.fixture()
def host_syncs():
    """Host reads, device moves and tensors built from Python data made by our code
    (``pipelines/``), not by diffusers' schedulers: every torch call is seen
    (``host_reads.HostReads``; more paths in ``test_loop_syncs``)."""
    mode = HostReads()
    with mode:
        yield mode.ours


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "ddim"])
def test_dtype_is_asked_once_per_run_not_per_step(tiny, prompts, dtype_walks, sampler):
    model, _, _ = tiny
    _run(model, prompts, 2, sampler=sampler)
    short = len(dtype_walks)
    dtype_walks.clear()
    _run(model, prompts, 8, sampler=sampler)
    assert len(dtype_walks) == short


def _kandinsky(root: Path):
    from pipelines.testing.tiny_kandinsky import EMBED_DIM, tiny_decoder_path
    from pipelines.values import Conditioning

    model = load_checkpoint(tiny_decoder_path(root))[0]

    def image(seed: int) -> Conditioning:
        embeds = torch.randn(1, EMBED_DIM, generator=torch.Generator().manual_seed(seed))
        return Conditioning(embeds=embeds[:, None, :], extras={"image_embeds": embeds})

    return model, (image(1), image(2))


def _texts(build):
    """A loader of a family with text encoders: (model, (positive, negative))."""
    def load(root: Path):
        from pipelines.text.conditioning import encode_text

        model, clip, _ = load_checkpoint(build(root))
        return model, (encode_text(clip, "a red cube"), encode_text(clip, ""))

    return load


def _if(root: Path) -> Path:
    from pipelines.testing.tiny_if import build_tiny_if

    return build_tiny_if(root / "if", stage=1)


def _sd3(root: Path) -> Path:
    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

    return build_tiny_sd3_folder(root / "sd3")


def _sdxl(root: Path) -> Path:
    from pipelines.testing.tiny import build_tiny_sdxl

    return build_tiny_sdxl(root / "sdxl")


def _flux(root: Path) -> Path:
    from pipelines.testing.tiny_flux import build_tiny_flux

    return build_tiny_flux(root / "flux")


FAMILIES = {"kandinsky22": (_kandinsky, "ddim"), "deepfloyd_if": (_texts(_if), "ddpm"),
            "sd3": (_texts(_sd3), "euler"), "flux_dev": (_texts(_flux), "euler"),
            "sdxl": (_texts(_sdxl), "dpmpp_2m")}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_family_asks_the_dtype_per_step(tmp_path, dtype_walks, family):
    """The families' own inputs and denoiser calls (not only SD's): inputs arrive in the
    denoiser's dtype, so a call never asks ``unet.dtype`` (Kandinsky's did every step)."""
    load, sampler = FAMILIES[family]
    model, prompts = load(tmp_path)
    assert model.family == family
    latent = Latent(torch.zeros(1, model.latent_channels, 16, 16))
    walks = []
    for steps in (2, 6):
        dtype_walks.clear()
        _run(model, prompts, steps, sampler=sampler, latent=latent)
        walks.append(len(dtype_walks))
    assert walks[0] == walks[1]


@pytest.mark.parametrize("sampler", ["euler", "heun", "ddim"])
def test_no_host_reads_or_device_moves_per_step(tiny, prompts, host_syncs, sampler):
    model, _, _ = tiny
    mask = torch.zeros(8, 8)
    mask[:, 4:] = 1.0
    for latent in (Latent(torch.zeros(SHAPE)), Latent(torch.randn(SHAPE), noise_mask=mask)):
        host_syncs.clear()
        _run(model, prompts, 2, sampler=sampler, latent=latent, denoise=0.9)
        short = list(host_syncs)
        host_syncs.clear()
        _run(model, prompts, 9, sampler=sampler, latent=latent, denoise=0.9)
        assert host_syncs == short  # once per run, never once per step


@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "ddim", "heun", "unipc"])
@pytest.mark.parametrize("begin_steps", [0, 3])
def test_kept_latents_equal_add_noise_inside_the_loop(tiny, sampler, begin_steps):
    """The unmasked area computed before the loop is what ``add_noise`` gives after each step."""
    model, _, _ = tiny
    original = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    initial = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    scheduler = make_scheduler(sampler, "normal", model.scheduler_config)
    scheduler.set_timesteps(8)
    begin = begin_steps * scheduler.order
    timesteps = scheduler.timesteps[begin:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    kept = _kept_latents(scheduler, original, initial, timesteps, begin)
    x = initial
    for i, t in enumerate(timesteps):
        x = scheduler.step(torch.zeros_like(x) + 0.1, t, scheduler.scale_model_input(x, t))
        x = x.prev_sample
        if i < len(timesteps) - 1:
            expected = scheduler.add_noise(original, initial, timesteps[i + 1 : i + 2])
            assert torch.equal(kept[i], expected)


def test_the_result_is_an_ordinary_tensor(tiny, prompts):
    """Sampling runs under inference mode; later nodes may still change the latent in place."""
    model, _, _ = tiny
    out = _run(model, prompts, 2)
    assert not out.samples.is_inference()
    out.samples.add_(1.0)
