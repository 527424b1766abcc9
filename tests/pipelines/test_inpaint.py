"""Inpainting: 9-channel UNets (folder and single file) sample like diffusers' inpaint pipelines,
the masked image is prepared as diffusers prepares it, and ordinary models keep blending."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.sampling.denoise import denoise
from pipelines.sampling.inpaint import encode_for_inpainting
from pipelines.sampling.samplers import make_scheduler
from pipelines.sampling.vae import encode
from pipelines.values import Latent, Noise

TOL = 1e-5
PROMPT = "a red circle on a blue square"
SIZE = 32  # pixels; the tiny VAE's factor is 2, so latents are 16 x 16


@pytest.fixture(scope="module")
def inpaint_dir(tmp_path_factory):
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("inpaint") / "tiny-sd-inpaint", inpainting=True)


@pytest.fixture(scope="module")
def inpaint_model(inpaint_dir):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.text.conditioning import encode_text

    model, clip, vae = load_checkpoint(inpaint_dir)
    return model, vae, (encode_text(clip, PROMPT), encode_text(clip, ""))


@pytest.fixture(scope="module")
def inpaint_pipe(inpaint_dir):
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pretrained(
        inpaint_dir, local_files_only=True, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image_and_mask(size: int = SIZE, aligned: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A random image [1, H, W, 3] and a rectangle mask [1, H, W]; unless ``aligned`` its
    edges cut through latent cells, so the mask's resizing to the latent matters."""
    image = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, size, size)
    if aligned:
        mask[:, 4:20, 10:28] = 1.0
    else:
        mask[:, 5:21, 9:27] = 1.0
    return image, mask


def _pipeline(pipe, latent: Latent, mask: torch.Tensor, sampler: str, strength: float,
              cfg: float, steps: int, seed: int, config: dict) -> torch.Tensor:
    """diffusers' inpaint pipeline on our encodings: ``image`` given as latents and
    ``masked_image_latents`` given, so it draws no VAE samples from the generator."""
    pipe.scheduler = make_scheduler(sampler, "normal", config)
    return pipe(
        PROMPT, negative_prompt="", image=latent.samples.clone(), mask_image=mask[:, None].clone(),
        masked_image_latents=latent.masked_image_latents.clone(), height=mask.shape[-2],
        width=mask.shape[-1], strength=strength, num_inference_steps=steps, guidance_scale=cfg,
        generator=torch.Generator("cpu").manual_seed(seed), output_type="latent",
    ).images


def test_nine_channel_folder_loads_as_an_inpainting_model(inpaint_dir, inpaint_model, tiny):
    from pipelines.loading.detect import detect

    model, _, _ = inpaint_model
    assert model.denoiser.config.in_channels == 9 and model.latent_channels == 4
    assert model.inpainting and not tiny[0].inpainting
    assert detect(inpaint_dir).inpainting


def test_masked_image_is_prepared_as_diffusers_prepares_it(inpaint_model, inpaint_pipe):
    _, vae, _ = inpaint_model
    image, mask = _image_and_mask()
    mask[:, 0, :8] = 0.5  # the binarization threshold: 0.5 counts as "repaint" in diffusers
    mask[:, 1, :8] = 0.49
    ours = encode_for_inpainting(vae, image, mask, grow=0)

    init = inpaint_pipe.image_processor.preprocess(image.permute(0, 3, 1, 2), SIZE, SIZE)
    condition = inpaint_pipe.mask_processor.preprocess(mask[:, None], SIZE, SIZE)
    with torch.no_grad():
        posterior = inpaint_pipe.vae.encode(init * (condition < 0.5)).latent_dist
    reference = posterior.mode() * inpaint_pipe.vae.config.scaling_factor
    assert (ours.masked_image_latents - reference).abs().max().item() <= TOL
    assert torch.equal(ours.noise_mask, condition[:, 0])
    # samples are the unmasked image, so denoise < 1 starts from the real picture
    assert torch.equal(ours.samples, encode(vae, image).samples)
    assert (ours.samples - ours.masked_image_latents).abs().max().item() > 0.01


@pytest.mark.parametrize(
    ("sampler", "strength", "cfg"),
    [("euler", 1.0, 7.5), ("euler_ancestral", 1.0, 7.5), ("dpmpp_2m", 1.0, 7.5),
     ("euler", 1.0, 1.0), ("ddim", 0.6, 7.5), ("euler", 0.5, 7.5)],
)
def test_nine_channel_model_matches_inpaint_pipeline(inpaint_model, inpaint_pipe, sampler,
                                                     strength, cfg):
    model, vae, (positive, negative) = inpaint_model
    image, mask = _image_and_mask()
    latent = encode_for_inpainting(vae, image, mask, grow=0)
    seed, steps = 11, 4
    reference = _pipeline(inpaint_pipe, latent, mask, sampler, strength, cfg, steps, seed,
                          model.scheduler_config)
    out = denoise(model, positive, negative, latent, Noise(seed), sampler=sampler, steps=steps,
                  cfg=cfg, denoise=strength)
    assert out.samples.shape == reference.shape
    assert (out.samples - reference).abs().max().item() <= TOL
    assert out.masked_image_latents is latent.masked_image_latents  # a second pass can reuse it
    # not blended: an inpainting model repaints the kept area too (diffusers does the same)
    keep = mask[:, None, ::2, ::2] == 0
    assert (out.samples - latent.samples).abs()[keep.expand_as(out.samples)].max() > 0.01


@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_ordinary_model_blends_an_inpaint_latent_like_the_pipeline(tiny, prompts, sd_pipe,
                                                                   strength):
    """A 4-channel model given the node's latent: blended with the original every step."""
    from diffusers import StableDiffusionInpaintPipeline

    model, _, vae = tiny
    image, mask = _image_and_mask(aligned=True)  # our blend resizes bilinearly, diffusers nearest
    latent = encode_for_inpainting(vae, image, mask, grow=0)
    pipe = StableDiffusionInpaintPipeline(**sd_pipe.components)
    pipe.set_progress_bar_config(disable=True)
    reference = _pipeline(pipe, latent, mask, "euler", strength, 7.5, 4, 3, model.scheduler_config)
    out = denoise(model, *prompts, latent, Noise(3), steps=4, cfg=7.5, denoise=strength)
    assert (out.samples - reference).abs().max().item() <= TOL
    keep = (mask[:, None, ::2, ::2] == 0).expand_as(out.samples)
    assert torch.equal(out.samples[keep], latent.samples[keep])
    assert (out.samples - latent.samples).abs()[~keep].mean() > 0.05


def test_inpainting_model_without_its_inputs_names_the_node(inpaint_model):
    model, _, (positive, negative) = inpaint_model
    empty = torch.zeros(1, 4, 16, 16)
    for latent in (Latent(empty), Latent(empty, noise_mask=torch.ones(16, 16))):
        with pytest.raises(ValueError, match=r"VAE Encode \(for Inpainting\)"):
            denoise(model, positive, negative, latent, Noise(0), steps=2)


def test_grow_mask_matches_comfyui_and_odd_sizes_are_cropped(inpaint_model):
    import torch.nn.functional as F

    _, vae, _ = inpaint_model
    image = torch.rand(2, 35, 33, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 35, 33)
    mask[0, 17, 3] = mask[0, 30, 20] = 1.0
    out = encode_for_inpainting(vae, image, mask, grow=6)
    assert out.samples.shape == out.masked_image_latents.shape == (2, 4, 17, 16)
    # ComfyUI: conv with a grow x grow box, padding ceil((grow-1)/2), clamp, crop
    cropped = mask[:, None, :34, :32]  # (35 % 2) // 2 = 0: cropped at the bottom and right
    box = F.conv2d(cropped, torch.ones(1, 1, 6, 6), padding=math.ceil(5 / 2)).clamp(0, 1)
    expected = box[:, 0, :34, :32]
    assert out.noise_mask.shape == (2, 34, 32)
    assert torch.equal(out.noise_mask, expected.expand(2, -1, -1))
    assert int(out.noise_mask[0].sum()) == 2 * 36
    with pytest.raises(ValueError, match="batch"):
        encode_for_inpainting(vae, image, torch.zeros(3, 35, 33))


VARIANTS = ["sd1", "sd2", "sdxl"]


@pytest.fixture(scope="module")
def inpaint_families(tmp_path_factory):
    from pipelines.testing.tiny_families import build_family

    root = tmp_path_factory.mktemp("inpaint-families")
    return {v: build_family(v, root, inpainting=True) for v in VARIANTS}


def _realigned(loaded):
    """Fresh weight copies (unaligned file buffers round differently; see test_single_file)."""
    for net in (loaded[0].denoiser, loaded[2].vae):
        for param in net.parameters():
            param.data = param.data.clone()
    return loaded


def _sample_inpaint(loaded, size: int = 64) -> tuple[torch.Tensor, Latent, torch.Tensor]:
    from pipelines.text.conditioning import encode_text

    model, clip, vae = loaded
    image, mask = _image_and_mask(size)
    latent = encode_for_inpainting(vae, image, mask, grow=0)
    out = denoise(model, encode_text(clip, "a cat"), encode_text(clip, ""), latent, Noise(1),
                  steps=3, cfg=5.0)
    return out.samples, latent, mask


@pytest.mark.parametrize("variant", VARIANTS)
def test_single_file_inpainting_checkpoint_samples_like_its_folder(inpaint_families, variant):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.detect import detect

    tiny = inpaint_families[variant]
    found = detect(tiny.file)
    assert (found.kind, found.family, found.inpainting) == ("checkpoint", tiny.family, True)
    assert found.describe().startswith(f"checkpoint {tiny.family}-inpainting")
    from_file, from_folder = load_checkpoint(tiny.file), _realigned(load_checkpoint(tiny.folder))
    assert from_file[0].inpainting and from_folder[0].inpainting
    assert from_file[0].denoiser.config.in_channels == 9
    ours, _, _ = _sample_inpaint(from_file)
    reference, _, _ = _sample_inpaint(from_folder)
    assert ours.abs().max() > 0.1
    assert (ours - reference).abs().max().item() <= TOL


def test_sdxl_inpainting_matches_sdxl_inpaint_pipeline(inpaint_families):
    from diffusers import StableDiffusionXLInpaintPipeline

    from pipelines.loading.checkpoint import load_checkpoint

    folder = inpaint_families["sdxl"].folder
    loaded = _realigned(load_checkpoint(folder))
    ours, latent, mask = _sample_inpaint(loaded)
    pipe = StableDiffusionXLInpaintPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler("euler", "normal", loaded[0].scheduler_config)
    reference = pipe(
        "a cat", negative_prompt="", image=latent.samples.clone(), mask_image=mask[:, None].clone(),
        masked_image_latents=latent.masked_image_latents.clone(), height=64, width=64,
        strength=1.0, num_inference_steps=3, guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(1), output_type="latent",
    ).images
    assert (ours - reference).abs().max().item() <= TOL
