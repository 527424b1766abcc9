"""No per-step host syncs of our own in the denoising loop, on every path a step can take:
ControlNet, areas / masks / step ranges, IP-Adapter, the Step Cache, x0 previews, noise masks,
Differential Diffusion and the flow-matching families (issue 17). A run of 2 steps and one of
9 steps must make the same host reads, moves and tensor builds (``host_reads.HostReads``
records every one with the line that made it), so nothing is read once per step.

The Step Cache with a threshold is the one path that must read on the host: whether to skip the
denoiser is a Python decision. It reads exactly one boolean per step where a skip is possible
(in its window, after its first two computed steps) and nothing anywhere else.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch

from pipelines.sampling import conditioning_ops as ops
from pipelines.sampling.denoise import denoise
from pipelines.sampling.step_cache import StepCache
from pipelines.values import Latent, Noise
from tests.pipelines.host_reads import HostReads, per_step

SHORT, LONG = 2, 9


@pytest.fixture()
def host_reads():
    mode = HostReads()
    with mode:
        yield mode


def _mask(height: int, width: int) -> torch.Tensor:
    mask = torch.zeros(height, width)
    mask[:, width // 2:] = 1.0
    mask[:, width // 4: width // 2] = 0.4  # a soft band (Differential Diffusion)
    return mask


def _sample(host_reads, model, positive, negative, *, latent=None, steps, **kwargs):
    latent = latent or Latent(torch.zeros(1, model.latent_channels, 8, 8))
    host_reads.clear()
    denoise(model, positive, negative, latent, Noise(5), steps=steps, cfg=kwargs.pop("cfg", 5.0),
            callback=lambda i, n, x0: None, **kwargs)
    return list(host_reads.ours)


def _per_step(host_reads, model, positive, negative, **kwargs) -> Counter[str]:
    short = _sample(host_reads, model, positive, negative, steps=SHORT, **kwargs)
    long = _sample(host_reads, model, positive, negative, steps=LONG, **kwargs)
    return per_step(short, long)


@pytest.fixture(scope="module")
def controlnet(tiny_dir, tmp_path_factory):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return load_controlnet(build_tiny_controlnet(
        tiny_dir, tmp_path_factory.mktemp("sync-controlnet") / "cn", seed=0))


@pytest.fixture(scope="module")
def ip_adapter(tiny, tmp_path_factory):
    from transformers import CLIPVisionConfig

    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.loading.ip_adapter import load_ip_adapter
    from pipelines.sampling.ip_adapter import encode_for_adapter
    from pipelines.testing.tiny_ip_adapter import (
        build_tiny_clip_vision,
        ip_adapter_state,
        save_ip_adapter,
    )

    root = tmp_path_factory.mktemp("sync-ip-adapter")
    vision_dir = build_tiny_clip_vision(root / "vision")
    state = ip_adapter_state(tiny[0].denoiser, CLIPVisionConfig.from_pretrained(vision_dir))
    weights = load_ip_adapter(save_ip_adapter(state, root / "ip-adapter.safetensors"))
    image = torch.rand(1, 40, 36, 3, generator=torch.Generator().manual_seed(4))
    return weights, encode_for_adapter(load_clip_vision(vision_dir), weights, image)


def _controlnet(model, positive, negative, request):
    from pipelines.sampling.control import apply_control

    hint = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(1))
    # a step range, so the per-step gate is exercised too
    positive, negative = apply_control(positive, negative, request.getfixturevalue(
        "controlnet"), hint, 0.8, 0.0, 0.7)
    return model, positive, negative, {}


def _areas(model, positive, negative, request):
    f = model.vae_scale_factor
    area = ops.set_area(ops.set_timestep_range(negative, 0.2, 0.8), 4 * f, 8 * f, 4 * f, 0, 0.7)
    masked = ops.set_mask(positive, _mask(8, 8), 0.9, False)
    bounded = ops.set_mask(positive, _mask(16, 16), 0.5, True)
    return model, ops.combine(ops.combine(positive, masked), bounded), ops.combine(
        negative, area), {}


def _ip_adapter(model, positive, negative, request):
    from pipelines.sampling.ip_adapter import apply_ip_adapter, with_adapter_use

    weights, embeds = request.getfixturevalue("ip_adapter")
    patched = apply_ip_adapter(model, with_adapter_use(weights, embeds, 0.8, 0.0, 0.6))
    return patched, positive, negative, {}


def _cache_off(model, positive, negative, request):  # installed, but never skips
    return dataclasses.replace(model, patches=(StepCache(0.0),)), positive, negative, {}


def _noise_mask(model, positive, negative, request):
    original = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    return model, positive, negative, {
        "latent": Latent(original, noise_mask=_mask(16, 16)), "sampler": "dpmpp_2m"}


def _differential(model, positive, negative, request):
    model, positive, negative, kwargs = _noise_mask(model, positive, negative, request)
    return dataclasses.replace(model, differential_diffusion=0.5), positive, negative, {
        **kwargs, "sampler": "euler", "denoise": 0.8}


def _x0_every_step(model, positive, negative, request):  # previews on: sampler's own x0 or not
    return model, positive, negative, {"sampler": "heun", "wants_x0": lambda i, n: True}


PATHS = {"controlnet": _controlnet, "areas-masks-ranges": _areas, "ip-adapter": _ip_adapter,
         "step-cache-threshold-0": _cache_off, "noise-mask": _noise_mask,
         "differential-diffusion": _differential, "previews-x0": _x0_every_step}


@pytest.mark.parametrize("path", list(PATHS))
def test_no_host_reads_per_step_on_sd(tiny, prompts, host_reads, request, path):
    model, positive, negative, kwargs = PATHS[path](tiny[0], *prompts, request)
    assert _per_step(host_reads, model, positive, negative, **kwargs) == Counter()


@pytest.fixture(scope="module", params=["sd3", "flux"])
def flow_model(request, tmp_path_factory):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.text.conditioning import encode_text

    root = tmp_path_factory.mktemp(f"sync-{request.param}")
    if request.param == "sd3":
        from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

        folder = build_tiny_sd3_folder(root / "sd3")
    else:
        from pipelines.testing.tiny_flux import build_tiny_flux

        folder = build_tiny_flux(root / "flux", "dev")
    model, clip, _ = load_checkpoint(folder)
    return model, encode_text(clip, "a red circle"), encode_text(clip, "a blue square")


@pytest.mark.parametrize("path", ["plain", "areas", "noise-mask"])
def test_no_host_reads_per_step_on_flow_matching(flow_model, host_reads, path):
    model, positive, negative = flow_model
    kwargs = {}
    if path == "areas":
        positive = ops.combine(positive, ops.set_area_percentage(
            ops.set_timestep_range(negative, 0.0, 0.5), 0.5, 1.0, 0.0, 0.0, 1.0))
    elif path == "noise-mask":
        original = torch.randn(1, model.latent_channels, 8, 8)
        kwargs = {"latent": Latent(original, noise_mask=_mask(8, 8)), "denoise": 0.9}
    assert _per_step(host_reads, model, positive, negative, **kwargs) == Counter()


def test_no_host_reads_per_step_on_an_inpainting_model(host_reads, tmp_path_factory):
    """Mask and masked-image latents as extra input channels, cast and batched once."""
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.testing.tiny import build_tiny_sd
    from pipelines.text.conditioning import encode_text

    model, clip, _ = load_checkpoint(build_tiny_sd(
        tmp_path_factory.mktemp("sync-inpaint") / "sd", inpainting=True))
    masked = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    latent = Latent(torch.zeros(1, 4, 8, 8), noise_mask=_mask(16, 16),
                    masked_image_latents=masked)
    assert model.inpainting
    extra = _per_step(host_reads, model, encode_text(clip, "a red circle"), encode_text(clip, ""),
                      latent=latent, denoise=0.9)
    assert extra == Counter()


def test_the_step_cache_reads_one_boolean_per_step_it_may_skip(tiny, prompts, host_reads):
    cache = StepCache(threshold=0.5, start=0.0, end=1.0)
    model = dataclasses.replace(tiny[0], patches=(cache,))
    extra = _per_step(host_reads, model, *prompts)
    computed, skipped = cache.last_run[0]
    assert skipped > 0  # it does skip here, so the read below is what decides it
    # steps 0 and 1 always run; from step 2 on one decision a step, nothing else
    assert sum(extra.values()) == LONG - SHORT
    assert len(extra) == 1, extra
    (record,) = extra
    assert record.startswith("__bool__ at pipelines/sampling/step_cache.py:")
    assert record.endswith("(_may_skip)")


def test_the_counter_sees_a_host_read_added_to_the_loop(tiny, prompts, host_reads, monkeypatch):
    """The guard fails the way it should: an ``.item()`` per step (here in the callback's place,
    from a function of the loop's module) shows up once per step."""
    import pipelines.sampling.denoise as loop

    original = loop._predicted_x0

    def reading(*args, **kwargs):
        x0 = original(*args, **kwargs)
        x0.abs().max().item()  # what a careless "if x0.max() > ..." costs
        return x0

    reading.__code__ = reading.__code__.replace(co_filename=loop.__file__)
    monkeypatch.setattr(loop, "_predicted_x0", reading)
    extra = _per_step(host_reads, tiny[0], *prompts)
    assert sum(extra.values()) == LONG - SHORT
    assert all(record.startswith("item at pipelines/sampling/denoise.py") for record in extra)
