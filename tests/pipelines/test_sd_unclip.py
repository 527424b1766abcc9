"""SD 2.1 unCLIP (Stable unCLIP) through our loader, CLIP vision encoding, prompt encoding,
unCLIP conditioning (noise-augmented image embedding as class label) and the common denoise
loop equals diffusers' StableUnCLIPImg2ImgPipeline on tiny random components."""

from __future__ import annotations

import pytest
import torch

from pipelines.families import folder_family
from pipelines.image import to_pil
from pipelines.loading.checkpoint import load_checkpoint
from pipelines.loading.clip_vision import load_clip_vision
from pipelines.sampling.denoise import denoise
from pipelines.sampling.image_embeds import encode_image
from pipelines.sampling.unclip_adm import KEY, add_unclip
from pipelines.sampling.vae import decode
from pipelines.testing.tiny_sd_unclip import EMBED_DIM, build_tiny_sd_unclip
from pipelines.text.conditioning import encode_text
from pipelines.values import Latent, Noise

PROMPT = "a red circle on a blue square"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tiny_sd_unclip(tmp_path_factory.mktemp("sd-unclip") / "sd-unclip")


@pytest.fixture(scope="module")
def loaded(folder):
    return load_checkpoint(folder), load_clip_vision(folder)


@pytest.fixture(scope="module")
def pipe(folder):
    from diffusers import StableUnCLIPImg2ImgPipeline

    pipe = StableUnCLIPImg2ImgPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(seed: int = 3) -> torch.Tensor:
    pixels = torch.randint(0, 256, (1, 40, 48, 3), generator=torch.Generator().manual_seed(seed))
    return pixels.float() / 255


def _ours(loaded, image, cfg, level, seed=5, steps=3, strength=1.0):
    (model, clip, vae), vision = loaded
    embedding = encode_image(vision, image)
    positive = add_unclip(encode_text(clip, PROMPT), embedding, strength, level / 999)
    start = Latent(samples=torch.zeros(1, 4, 16, 16))
    latent = denoise(model, positive, encode_text(clip, ""), start, Noise(seed),
                     sampler="ddim", steps=steps, cfg=cfg)
    return latent, decode(vae, latent)


def test_folder_is_detected_and_loaded_with_its_noise_augmentation(folder, loaded):
    (model, clip, vae), vision = loaded
    assert folder_family(folder) == "sd21_unclip" == model.family
    assert model.extras["noising"]["beta_schedule"] == "squaredcos_cap_v2"
    assert model.extras["mean"].shape == (1, EMBED_DIM) and model.schedulers == {}
    assert vision.image_encoder.config.projection_dim == EMBED_DIM
    assert vision.image_processor.crop_size["height"] == 32  # its feature_extractor


@pytest.mark.parametrize(("cfg", "level"), [(6.0, 0), (6.0, 300), (1.0, 100)])
def test_equals_stable_unclip_img2img_pipeline(loaded, pipe, cfg, level):
    image = _image()
    latent, ours = _ours(loaded, image, cfg, level)
    kwargs = dict(image=to_pil(image)[0], prompt=PROMPT, height=32, width=32,
                  num_inference_steps=3, guidance_scale=cfg, noise_level=level)
    ref_latent = pipe(generator=torch.Generator().manual_seed(5), output_type="latent",
                      **kwargs).images
    ref = pipe(generator=torch.Generator().manual_seed(5), output_type="pt", **kwargs).images
    latent_diff = (latent.samples - ref_latent).abs().max().item()
    image_diff = (ours - ref.permute(0, 2, 3, 1)).abs().max().item()
    print(f"stable unCLIP cfg {cfg} level {level}: max abs diff latent {latent_diff}, "
          f"image {image_diff}")
    assert latent_diff <= 1e-5 and image_diff <= 1e-5


def test_the_image_strength_and_stacking_matter(loaded):
    image = _image()
    base, _ = _ours(loaded, image, 6.0, 0)
    other, _ = _ours(loaded, _image(9), 6.0, 0)
    weak, _ = _ours(loaded, image, 6.0, 0, strength=0.5)
    assert (other.samples - base.samples).abs().max() > 1e-4
    assert (weak.samples - base.samples).abs().max() > 1e-4
    (model, clip, _), vision = loaded
    cond = encode_text(clip, PROMPT)
    assert add_unclip(cond, encode_image(vision, image), 0.0, 0.2) is cond  # ComfyUI: as is
    stacked = add_unclip(add_unclip(cond, encode_image(vision, image), 1.0, 0.1),
                         encode_image(vision, _image(9)), 0.5, 0.0)
    assert stacked.extras[KEY].shape == (1, 2, EMBED_DIM + 2)
    assert KEY not in cond.extras  # the input conditioning is not changed
    run = denoise(model, stacked, encode_text(clip, ""), Latent(torch.zeros(1, 4, 16, 16)),
                  Noise(5), sampler="ddim", steps=2, cfg=6.0)
    assert torch.isfinite(run.samples).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        add_unclip(cond, encode_image(vision, image), 1.0, 1.5)


def test_crop_none_squashes_the_whole_image(loaded):
    _, vision = loaded
    image = _image()
    wide = torch.cat([image, torch.ones(1, 40, 200, 3)], dim=2)  # far right side is white
    assert torch.equal(encode_image(vision, wide).embeds, encode_image(vision, wide).embeds)
    cropped, squashed = encode_image(vision, wide).embeds, encode_image(vision, wide, crop=False)
    assert (cropped - squashed.embeds).abs().max() > 1e-4


def test_per_image_noise_reproduces_one_image_of_a_batch(folder, loaded):
    from pipelines.loading.detect import detect

    assert detect(folder).describe().startswith("diffusers sd21_unclip (an image-variation")
    (model, clip, _), vision = loaded
    positive = add_unclip(encode_text(clip, PROMPT), encode_image(vision, _image()), 1.0, 0.2)
    negative = encode_text(clip, "")

    def run(batch: int) -> torch.Tensor:
        return denoise(model, positive, negative, Latent(torch.zeros(batch, 4, 16, 16)),
                       Noise(1, "per_image"), sampler="ddim", steps=2, cfg=5.0).samples

    pair, alone = run(2), run(1)
    # each image draws its embedding noise, then its latent noise, from its own generator
    assert (pair[0] - pair[1]).abs().max() > 1e-2
    assert (pair[:1] - alone).abs().max() <= 1e-4  # batched UNet arithmetic rounds differently
