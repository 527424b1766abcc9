"""IPAdapter_plus's remaining weight types and embeds_scaling through the Sampler:
"style and composition" (its composition weight) against diffusers' pipeline given the same
per-layer scales; the precise types without CFG against the pipeline with the swapped layers
off (the positive attends to nothing there); with CFG they, and the K/V scalings, change the
run; and the tables on the real SD 1.5 / SDXL layouts."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.ip_adapter_weights import layer_routes, layer_weights
from tests.pipelines import test_ip_adapter as base
from tests.pipelines.test_ip_adapter import PROMPT, SIZE, TOL, _adapter_file
from tests.pipelines.test_ip_adapter_weights import SD15, SDXL, _attn2_names, _pipe

vision_dir = base.vision_dir  # the parity tests' fixture


def _blocks(weights: dict[str, float]) -> dict[str, float]:
    return {n.split(".transformer_blocks")[0]: w for n, w in weights.items() if w}


def test_style_and_composition_tables():
    xl = _attn2_names(**SDXL)
    assert _blocks(layer_weights(xl, "style and composition", True, 0.8, 0.3)) == {
        "down_blocks.2.attentions.1": 0.3, "up_blocks.0.attentions.1": 0.8}
    strong = layer_weights(xl, "strong style and composition", True, 0.8, 0.3)
    assert strong["down_blocks.2.attentions.1.transformer_blocks.0.attn2.processor"] == 0.3
    assert set(_blocks(strong).values()) == {0.8, 0.3} and len(_blocks(strong)) == 11
    routes = layer_routes(xl, "composition precise", True)
    swapped = {n.split(".transformer_blocks")[0] for n, r in routes.items() if r == "swap"}
    assert len(swapped) == 10 and "down_blocks.2.attentions.1" not in swapped
    precise = layer_routes(xl, "style transfer precise", True)
    assert {n.split(".transformer_blocks")[0] for n, r in precise.items() if r == "swap"} == {
        "down_blocks.2.attentions.1"}
    alt = layer_routes(xl, "style and composition", True, alternative=True)
    assert {n.split(".transformer_blocks")[0] for n, r in alt.items() if r == "alt"} == {
        "down_blocks.2.attentions.1"}
    sd = _attn2_names(**SD15)
    assert _blocks(layer_weights(sd, "composition precise", False, 1.0))[
        "up_blocks.1.attentions.0"] == 0.1
    assert {n.split(".transformer_blocks")[0] for n, r in layer_routes(
        sd, "style transfer precise", False).items() if r == "swap"} == {
        "down_blocks.2.attentions.0", "down_blocks.2.attentions.1"}


def _setup(tiny, vision_dir, tmp_path):
    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.loading.ip_adapter import load_ip_adapter
    from pipelines.sampling.ip_adapter import encode_for_adapter

    model = tiny[0]
    state, path = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    image = torch.rand(1, 40, 36, 3, generator=torch.Generator().manual_seed(3))
    weights, vision = load_ip_adapter(path), load_clip_vision(vision_dir)
    return state, image, weights, encode_for_adapter(vision, weights, image)


def _ours(tiny, weights, embeds, cfg, weight_type, **kwargs):
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.ip_adapter import apply_ip_adapter, with_adapter_use
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = tiny
    use = with_adapter_use(weights, embeds, 0.8, 0.0, 1.0, weight_type, **kwargs)
    return denoise(apply_ip_adapter(model, use), encode_text(clip, PROMPT),
                   encode_text(clip, ""), Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2)),
                   Noise(2), sampler="euler", steps=3, cfg=cfg).samples


def _theirs(tiny_dir, vision_dir, state, image, cfg, scales):
    from pipelines.image import to_pil
    from pipelines.sampling.samplers import make_scheduler

    pipe = _pipe(tiny_dir, vision_dir, state)
    for name, proc in pipe.unet.attn_processors.items():
        if name in scales:
            proc.scale = [scales[name]]
    pipe.scheduler = make_scheduler("euler", "normal", pipe.scheduler.config)
    return pipe(PROMPT, negative_prompt="", num_inference_steps=3, guidance_scale=cfg,
                height=SIZE, width=SIZE, generator=torch.Generator().manual_seed(2),
                ip_adapter_image=[to_pil(image)], output_type="latent").images


@pytest.mark.parametrize(("weight_type", "cfg"), [
    ("style and composition", 6.0), ("strong style and composition", 6.0),
    ("style transfer precise", 1.0), ("composition precise", 1.0)])
def test_types_match_pipeline_with_the_same_layer_scales(tiny, tiny_dir, vision_dir, tmp_path,
                                                         weight_type, cfg):
    state, image, weights, embeds = _setup(tiny, vision_dir, tmp_path)
    names = [n for n in tiny[0].denoiser.attn_processors if ".attn2." in n]
    scales = layer_weights(names, weight_type, False, 0.8, 0.3)
    routes = layer_routes(names, weight_type, False)
    # without CFG a swapped layer's positive attends to zero tokens: no contribution
    scales = {n: 0.0 if routes[n] == "swap" else w for n, w in scales.items()}
    reference = _theirs(tiny_dir, vision_dir, state, image, cfg, scales)
    ours = _ours(tiny, weights, embeds, cfg, weight_type, composition=0.3)
    assert (ours - reference).abs().max().item() <= TOL


def test_precise_swap_and_scalings_change_a_cfg_run(tiny, vision_dir, tmp_path):
    _, _, weights, embeds = _setup(tiny, vision_dir, tmp_path)
    plain = _ours(tiny, weights, embeds, 6.0, "style and composition", composition=0.8)
    precise = _ours(tiny, weights, embeds, 6.0, "style transfer precise")
    assert (precise - plain).abs().max().item() > 1e-4  # the negative got the image there
    runs = [_ours(tiny, weights, embeds, 6.0, "linear", embeds_scaling=how)
            for how in ("V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty")]
    assert all((a - b).abs().max() > 1e-5 for i, a in enumerate(runs) for b in runs[i + 1:])


def test_a_composition_image_needs_its_type_and_an_sdxl_adapter(tiny, vision_dir, tmp_path):
    from pipelines.sampling.ip_adapter import with_adapter_use

    _, _, weights, embeds = _setup(tiny, vision_dir, tmp_path)
    with pytest.raises(ValueError, match="style and composition"):
        with_adapter_use(weights, embeds, 1.0, 0.0, 1.0, "linear", composition_embeds=embeds)
    with pytest.raises(ValueError, match="SDXL adapters only"):
        with_adapter_use(weights, embeds, 1.0, 0.0, 1.0, "style and composition",
                         composition_embeds=embeds)
    with pytest.raises(ValueError, match="embeds_scaling"):
        with_adapter_use(weights, embeds, 1.0, 0.0, 1.0, embeds_scaling="Q only")


def test_a_composition_image_steers_the_sdxl_composition_layer(tiny_sdxl, vision_dir, tmp_path):
    """Layer 3 reads the composition image: the style image there gives the plain run back,
    another image changes it."""
    from pipelines.loading.clip_vision import load_clip_vision
    from pipelines.loading.ip_adapter import load_ip_adapter
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.ip_adapter import (
        apply_ip_adapter,
        encode_for_adapter,
        with_adapter_use,
    )
    from pipelines.testing.tiny_ip_adapter import save_ip_adapter
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = tiny_sdxl
    names = [n for n in model.denoiser.attn_processors if ".attn2." in n]
    assert len({n.split(".transformer_blocks")[0] for n in names}) > 3  # a layer 3 exists
    state, _ = _adapter_file(tmp_path, model.denoiser, vision_dir, "plain")
    # IPAdapter_plus tells an SDXL adapter by its layer "101"; the tiny one has fewer layers
    state["ip_adapter"]["101.to_k_ip.weight"] = state["ip_adapter"]["1.to_k_ip.weight"].clone()
    weights = load_ip_adapter(save_ip_adapter(state, tmp_path / "xl.safetensors"))
    vision = load_clip_vision(vision_dir)
    g = torch.Generator().manual_seed(6)
    style, layout = torch.rand(1, 40, 36, 3, generator=g), torch.rand(1, 40, 36, 3, generator=g)
    embeds = encode_for_adapter(vision, weights, style)

    def run(composition):
        use = with_adapter_use(weights, embeds, 0.8, 0.0, 1.0, "style and composition",
                               composition=0.6, composition_embeds=composition)
        return denoise(apply_ip_adapter(model, use), encode_text(clip, PROMPT),
                       encode_text(clip, ""), Latent(torch.zeros(1, 4, SIZE // 2, SIZE // 2)),
                       Noise(4), sampler="euler", steps=3, cfg=5.0).samples

    plain = run(None)
    assert torch.allclose(run(encode_for_adapter(vision, weights, style)), plain, atol=1e-5)
    other = run(encode_for_adapter(vision, weights, layout))
    assert (other - plain).abs().max().item() > 1e-4
