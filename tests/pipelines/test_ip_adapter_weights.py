"""IP-Adapter weight types, combine_embeds and attn_mask: the per-layer factors on the real
SD 1.5 / SDXL layouts as ComfyUI_IPAdapter_plus defines them, the merged embeddings, and
parity with diffusers' pipeline given the same per-layer scales and ``ip_adapter_masks``."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.ip_adapter_weights import combine_embeds, layer_factors
from tests.pipelines import test_ip_adapter as base
from tests.pipelines.test_ip_adapter import PROMPT, SIZE, TOL, _adapter_file

vision_dir = base.vision_dir  # the parity tests' fixture


def _attn2_names(**config) -> list[str]:
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    return [n for n in unet.attn_processors if ".attn2." in n]


SD15 = {}
SDXL = {"block_out_channels": (320, 640, 1280), "cross_attention_dim": 2048,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20)}


def test_style_and_composition_layers_are_instantstyles():
    xl = layer_factors(_attn2_names(**SDXL), "style transfer", sdxl=True)
    assert {n.split(".transformer_blocks")[0] for n, f in xl.items() if f} == {
        "up_blocks.0.attentions.1"}
    comp = layer_factors(_attn2_names(**SDXL), "composition", sdxl=True)
    assert {n.split(".transformer_blocks")[0] for n, f in comp.items() if f} == {
        "down_blocks.2.attentions.1"}
    sd = layer_factors(_attn2_names(**SD15), "composition", sdxl=False)
    assert {n.split(".transformer_blocks")[0]: f for n, f in sd.items() if f} == {
        "down_blocks.2.attentions.0": 0.25, "down_blocks.2.attentions.1": 1.0}
    style = layer_factors(_attn2_names(**SD15), "style transfer", sdxl=False)
    off = {n.split(".transformer_blocks")[0] for n, f in style.items() if not f}
    assert off == {"down_blocks.2.attentions.0", "down_blocks.2.attentions.1",
                   "mid_block.attentions.0", "up_blocks.1.attentions.0",
                   "up_blocks.1.attentions.1"}


def test_eased_and_weak_factors_follow_the_forward_order():
    names = _attn2_names(**SD15)
    assert len({n.split(".transformer_blocks")[0] for n in names}) == 16
    ease_in = layer_factors(names, "ease in", sdxl=False)
    assert ease_in["down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor"] == 1.0
    mid = ease_in["mid_block.attentions.0.transformer_blocks.0.attn2.processor"]
    assert mid == pytest.approx(0.05 + 0.95 * (1 - 6 / 16))
    weak = layer_factors(names, "weak input", sdxl=False)
    assert {f for n, f in weak.items() if n.startswith("down_blocks")} == {0.2}
    assert {f for n, f in weak.items() if not n.startswith("down_blocks")} == {1.0}
    strong = layer_factors(names, "strong middle", sdxl=False)
    assert strong["mid_block.attentions.0.transformer_blocks.0.attn2.processor"] == 1.0
    with pytest.raises(ValueError, match="very strong"):
        layer_factors(names, "very strong", sdxl=False)


def test_combine_embeds():
    embeds = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]]])
    negative = torch.zeros(1, 3, 2)
    assert torch.equal(combine_embeds(embeds, negative, "concat")[0], embeds)
    assert combine_embeds(embeds, negative, "add")[0].tolist() == [[[9.0, 12.0]]]
    assert combine_embeds(embeds, negative, "subtract")[0].tolist() == [[[-3.0, -3.0]]]
    assert combine_embeds(embeds, negative, "average")[0].tolist() == [[[3.0, 4.0]]]
    norm = combine_embeds(embeds, negative, "norm average")[0]
    expected = (embeds[0] / embeds[0].norm(dim=0, keepdim=True)).mean(dim=0)
    assert torch.allclose(norm[0, 0], expected)
    assert combine_embeds(embeds, negative, "average")[1].shape == (1, 1, 2)


def _pipe(tiny_dir, vision_dir, state):
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    pipe = StableDiffusionPipeline.from_pretrained(
        tiny_dir, local_files_only=True, safety_checker=None,
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(vision_dir),
        feature_extractor=CLIPImageProcessor.from_pretrained(vision_dir))
    pipe.set_progress_bar_config(disable=True)
    pipe.load_ip_adapter([state], subfolder=[""], weight_name=[""])
    return pipe


@pytest.mark.parametrize(("weight_type", "masked"), [("ease in", False), ("weak output", True)])
def test_weight_type_and_mask_match_pipeline(tiny, tiny_dir, vision_dir, tmp_path,
                                             weight_type, masked):
    from pipelines.image import to_pil
    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.loading.ip_adapter import load_ip_adapter
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.ip_adapter import (
        apply_ip_adapter,
        encode_for_adapter,
        with_adapter_use,
    )
    from pipelines.sampling.samplers import make_scheduler
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = tiny
    state, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    image = torch.rand(1, 40, 36, 3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, :, : SIZE // 2] = 1.0
    pipe = _pipe(tiny_dir, vision_dir, state)
    names = [n for n, p in pipe.unet.attn_processors.items() if hasattr(p, "to_k_ip")]
    factors = layer_factors(names, weight_type, sdxl=False)
    for name, proc in pipe.unet.attn_processors.items():
        if name in factors:
            proc.scale = [0.8 * factors[name]]
    pipe.scheduler = make_scheduler("euler", "normal", pipe.scheduler.config)
    kwargs = {"cross_attention_kwargs": {"ip_adapter_masks": [mask[None]]}} if masked else {}
    reference = pipe(PROMPT, negative_prompt="", num_inference_steps=3, guidance_scale=6.0,
                     height=SIZE, width=SIZE, generator=torch.Generator().manual_seed(2),
                     ip_adapter_image=[to_pil(image)], output_type="latent", **kwargs).images
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    use = with_adapter_use(weights, encode_for_adapter(vision, weights, image), 0.8, 0.0, 1.0,
                           weight_type, mask=mask if masked else None)
    ours = denoise(apply_ip_adapter(model, use), encode_text(clip, PROMPT), encode_text(clip, ""),
                   Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2)), Noise(2), sampler="euler",
                   steps=3, cfg=6.0).samples
    assert (ours - reference).abs().max().item() <= TOL
    linear = with_adapter_use(weights, encode_for_adapter(vision, weights, image), 0.8, 0.0, 1.0)
    plain = denoise(apply_ip_adapter(model, linear), encode_text(clip, PROMPT),
                    encode_text(clip, ""), Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2)),
                    Noise(2), sampler="euler", steps=3, cfg=6.0).samples
    assert (ours - plain).abs().max().item() > 1e-4  # the weight type / mask changed the run
