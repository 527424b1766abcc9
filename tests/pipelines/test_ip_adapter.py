"""IP-Adapter: our Sampler with an applied adapter against diffusers' pipelines after
``load_ip_adapter`` of the same state dict (tiny random CLIP vision model and adapters, saved to
disk and loaded through our loaders), same seed, max abs diff <= 1e-5 on the CPU; the shared
UNet is left as it was."""

from __future__ import annotations

import pytest
import torch

from pipelines.image import to_pil
from pipelines.loading.clip_vision import load_clip_vision
from pipelines.loading.ip_adapter import load_ip_adapter
from pipelines.sampling.denoise import denoise
from pipelines.sampling.ip_adapter import apply_ip_adapter, encode_for_adapter, with_adapter_use
from pipelines.sampling.samplers import make_scheduler
from pipelines.testing.tiny_ip_adapter import (
    build_tiny_clip_vision,
    ip_adapter_state,
    save_ip_adapter,
)
from pipelines.values import Latent, Noise

TOL = 1e-5
PROMPT = "a red circle on a blue square"
SIZE = 32


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory):
    return build_tiny_clip_vision(tmp_path_factory.mktemp("clip-vision") / "tiny-vision")


@pytest.fixture(scope="module")
def reference_images():
    g = torch.Generator().manual_seed(4)
    return torch.rand(2, 40, 36, 3, generator=g)


def _adapter_file(tmp_path, unet, vision_dir, kind, seed=0):
    from transformers import CLIPVisionConfig

    state = ip_adapter_state(unet, CLIPVisionConfig.from_pretrained(vision_dir), kind, seed)
    return state, save_ip_adapter(state, tmp_path / f"ip-adapter-{kind}.safetensors")


def _reference(pipe_class, model_dir, vision_dir, states, images, *, scale, sampler, steps,
               cfg, seed):
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    pipe = pipe_class.from_pretrained(
        model_dir, local_files_only=True,
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(vision_dir),
        feature_extractor=CLIPImageProcessor.from_pretrained(vision_dir))
    pipe.set_progress_bar_config(disable=True)
    pipe.load_ip_adapter(states, subfolder=[""] * len(states), weight_name=[""] * len(states))
    pipe.set_ip_adapter_scale(scale)
    pipe.scheduler = make_scheduler(sampler, "normal", pipe.scheduler.config)
    return pipe(PROMPT, negative_prompt="", num_inference_steps=steps, guidance_scale=cfg,
                height=SIZE, width=SIZE, generator=torch.Generator("cpu").manual_seed(seed),
                ip_adapter_image=images, output_type="latent").images


def _ours(model, clip, vision, adapters, *, sampler, steps, cfg, seed):
    from pipelines.text.conditioning import encode_text

    for weights, image, scale in adapters:
        embeds = encode_for_adapter(vision, weights, image)
        assert not any(e.is_inference() for e in embeds)  # ordinary, though inferred
        model = apply_ip_adapter(model, with_adapter_use(weights, embeds, scale, 0.0, 1.0))
    return denoise(model, encode_text(clip, PROMPT), encode_text(clip, ""),
                   Latent(samples=torch.zeros(1, 4, SIZE // 2, SIZE // 2)), Noise(seed),
                   sampler=sampler, steps=steps, cfg=cfg).samples


@pytest.mark.parametrize(("kind", "scale", "sampler", "cfg"),
                         [("plain", 1.0, "euler", 7.5), ("plus", 0.6, "dpmpp_2m", 5.0)])
def test_sd_with_ip_adapter_matches_pipeline(tiny, tiny_dir, vision_dir, reference_images,
                                             tmp_path, kind, scale, sampler, cfg):
    from diffusers import StableDiffusionPipeline

    model, clip, _ = tiny
    state, path = _adapter_file(tmp_path, model.denoiser, vision_dir, kind)
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    assert weights.kind == kind
    before = dict(model.denoiser.attn_processors)
    plain = _ours(model, clip, vision, [], sampler=sampler, steps=3, cfg=cfg, seed=11)
    ours = _ours(model, clip, vision, [(weights, reference_images, scale)], sampler=sampler,
                 steps=3, cfg=cfg, seed=11)
    ref = _reference(StableDiffusionPipeline, tiny_dir, vision_dir, [state],
                     [to_pil(reference_images)], scale=scale, sampler=sampler, steps=3, cfg=cfg,
                     seed=11)
    assert (ours - ref).abs().max().item() <= TOL
    assert (ours - plain).abs().max().item() > 1e-3  # the adapter really steers
    # the shared UNet is as it was: its processors, no projection, same output as before
    assert dict(model.denoiser.attn_processors) == before
    assert model.denoiser.encoder_hid_proj is None
    again = _ours(model, clip, vision, [], sampler=sampler, steps=3, cfg=cfg, seed=11)
    assert torch.equal(again, plain)


def test_two_stacked_adapters_match_pipeline(tiny, tiny_dir, vision_dir, reference_images,
                                             tmp_path):
    from diffusers import StableDiffusionPipeline

    model, clip, _ = tiny
    vision = load_clip_vision(vision_dir)
    state_a, path_a = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain", seed=1)
    state_b, path_b = _adapter_file(tmp_path, model.denoiser, vision_dir, "plus", seed=2)
    images_a, images_b = reference_images[:1], reference_images[1:]
    ours = _ours(model, clip, vision, [(load_ip_adapter(path_a), images_a, 0.7),
                                       (load_ip_adapter(path_b), images_b, 0.5)],
                 sampler="euler", steps=3, cfg=7.5, seed=5)
    ref = _reference(StableDiffusionPipeline, tiny_dir, vision_dir, [state_a, state_b],
                     [to_pil(images_a), to_pil(images_b)], scale=[0.7, 0.5], sampler="euler",
                     steps=3, cfg=7.5, seed=5)
    assert (ours - ref).abs().max().item() <= TOL


def test_sdxl_with_ip_adapter_matches_pipeline(tiny_sdxl, tiny_sdxl_dir, vision_dir,
                                               reference_images, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    model, clip, _ = tiny_sdxl
    state, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plus", seed=3)
    vision = load_clip_vision(vision_dir)
    ours = _ours(model, clip, vision, [(load_ip_adapter(path), reference_images, 0.8)],
                 sampler="euler", steps=3, cfg=5.0, seed=3)
    ref = _reference(StableDiffusionXLPipeline, tiny_sdxl_dir, vision_dir, [state],
                     [to_pil(reference_images)], scale=0.8, sampler="euler", steps=3, cfg=5.0,
                     seed=3)
    assert (ours - ref).abs().max().item() <= TOL
    assert model.denoiser.encoder_hid_proj is None


def test_start_end_range_gates_the_adapter(tiny, vision_dir, reference_images, tmp_path):
    """Outside [start, end] the adapter does nothing: a range that holds no step equals no
    adapter; a range over the later steps changes only those."""
    model, clip, _ = tiny
    _, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    embeds = encode_for_adapter(vision, weights, reference_images)
    from pipelines.text.conditioning import encode_text

    def run(start, end, weight=1.0):
        patched = apply_ip_adapter(model, with_adapter_use(weights, embeds, weight, start, end))
        return denoise(patched, encode_text(clip, PROMPT), encode_text(clip, ""),
                       Latent(samples=torch.zeros(1, 4, SIZE // 2, SIZE // 2)), Noise(2),
                       sampler="euler", steps=4, cfg=7.5).samples

    plain = run(0.0, 1.0, weight=0.0)
    assert torch.equal(run(0.999, 1.0), plain)  # the last step is at t ~ 250: outside
    full, late = run(0.0, 1.0), run(0.5, 1.0)
    assert (late - plain).abs().max().item() > 1e-4
    assert (late - full).abs().max().item() > 1e-4


def test_a_file_that_is_not_an_adapter_is_named(tmp_path):
    from safetensors.torch import save_file

    from pipelines.errors import ModelLoadError

    save_file({"weight": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ModelLoadError, match="Not an IP-Adapter") as info:
        load_ip_adapter(tmp_path / "other.safetensors")
    assert "other.safetensors" in str(info.value)


def test_bin_file_with_nested_dicts_loads(tiny, vision_dir, tmp_path):
    from transformers import CLIPVisionConfig

    model, _, _ = tiny
    state = ip_adapter_state(model.denoiser, CLIPVisionConfig.from_pretrained(vision_dir))
    torch.save(state, tmp_path / "ip-adapter.bin")
    weights = load_ip_adapter(tmp_path / "ip-adapter.bin")
    assert weights.kind == "plain"
    assert torch.equal(weights.image_proj["proj.weight"], state["image_proj"]["proj.weight"])


def test_embeddings_of_another_clip_vision_model_are_refused(tiny, vision_dir, tmp_path,
                                                            reference_images):
    model, _, _ = tiny
    _, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    weights = load_ip_adapter(path)
    wrong = (torch.zeros(1, 1, 48), torch.zeros(1, 1, 48))
    with pytest.raises(ValueError, match="48 wide but this IP-Adapter takes 32"):
        apply_ip_adapter(model, with_adapter_use(weights, wrong, 1.0, 0.0, 1.0))
    assert model.patches == ()


def test_embeddings_are_remembered_per_encoder_and_image(tiny, vision_dir, tmp_path,
                                                         reference_images):
    """Changing only the weight or range of an adapter does not encode the images again."""
    model, _, _ = tiny
    _, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plus")
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    calls = []
    handle = vision.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        first = encode_for_adapter(vision, weights, reference_images)
        assert len(calls) == 2  # the images and the zero image
        again = encode_for_adapter(vision, weights, reference_images.clone())
        assert len(calls) == 2 and again[0] is first[0]
        encode_for_adapter(vision, weights, 1 - reference_images)
        assert len(calls) == 4
    finally:
        handle.remove()


def test_a_half_precision_run_leaves_the_adapter_float32(tiny, vision_dir, tmp_path,
                                                         reference_images):
    """A run in another dtype (a GPU's float16; bfloat16 here on the CPU) casts the adapter
    for that run only: afterwards its weights are the float32 ones again, bit for bit."""
    import copy

    model, _, _ = tiny
    _, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    embeds = encode_for_adapter(vision, weights, reference_images)
    half = copy.deepcopy(model.denoiser).to(torch.bfloat16)
    patched = apply_ip_adapter(model, with_adapter_use(weights, embeds, 1.0, 0.0, 1.0))
    patch = patched.patches[0]
    before = {k: v.clone() for k, v in patch.projections[0].state_dict().items()}
    from dataclasses import replace

    positive = torch.zeros(1, 77, 32)
    from pipelines.values import Conditioning

    out = denoise(replace(patched, denoiser=half), Conditioning(positive), Conditioning(positive),
                  Latent(samples=torch.zeros(1, 4, 8, 8)), Noise(0), steps=1, cfg=2.0)
    assert torch.isfinite(out.samples).all()
    after = patch.projections[0].state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v)
               for k, v in before.items())
