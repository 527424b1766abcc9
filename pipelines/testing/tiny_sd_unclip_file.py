"""A tiny random SD 2.1 unCLIP model saved twice: as a diffusers folder and as an
original-layout single file like ``sd21-unclip-h.safetensors`` (``model.diffusion_model.*``,
``first_stage_model.*``, ``cond_stage_model.model.*`` (OpenCLIP text, one extra layer),
``embedder.model.visual.*`` (OpenCLIP vision), ``noise_augmentor.*``).

Built from the shipped ``sd21-unclip`` template with the widths shrunk and 64-wide attention
heads (what a single file's shapes imply), so the file loads to exactly the folder's
networks. The inverse conversions (diffusers/transformers -> original names) live here: the
loader's direction is ``pipelines.loading.single_file`` and ``open_clip_vision``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.loading.convert import (
    open_clip_to_original,
    save_single_file,
    unet_to_original,
    vae_to_original,
)
from pipelines.loading.readers import CONFIGS, clip_tokenizer, read_json
from pipelines.testing.tiny_families import _UNET, _text_encoder

TEMPLATE = CONFIGS / "sd21-unclip"
EMBED_DIM = 32  # the CLIP image embedding width (1024 in sd21-unclip-h)
_LAYER = (("self_attn.out_proj.", "attn.out_proj."), ("layer_norm1.", "ln_1."),
          ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj."))
_TOP = {"embeddings.patch_embedding.weight": "conv1.weight",
        "embeddings.class_embedding": "class_embedding",
        "embeddings.position_embedding.weight": "positional_embedding",
        "pre_layrnorm.weight": "ln_pre.weight", "pre_layrnorm.bias": "ln_pre.bias",
        "post_layernorm.weight": "ln_post.weight", "post_layernorm.bias": "ln_post.bias"}


def vision_to_original(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``CLIPVisionModelWithProjection`` weights -> OpenCLIP ``visual`` names under ``prefix``."""
    tower = {k.removeprefix("vision_model."): v for k, v in state.items()}
    out = {new: tower[old] for old, new in _TOP.items()}
    out["proj"] = tower["visual_projection.weight"].T.contiguous()
    layers = {int(k.split(".")[2]) for k in tower if k.startswith("encoder.layers.")}
    for i in sorted(layers):
        src, dst = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [tower[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"])
        for key, value in tower.items():
            if key.startswith(src) and not any(f"self_attn.{p}_proj." in key for p in "qkv"):
                rest = key[len(src):]
                for new, old in _LAYER:
                    rest = rest.replace(new, old)
                out[dst + rest] = value
    return {prefix + k: v for k, v in out.items()}


def noise_augmentor_state(noising: Any, mean: torch.Tensor | None,
                          std: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The buffers the original ``CLIPEmbeddingNoiseAugmentation`` saves (its schedule), plus
    ``data_mean``/``data_std`` when given (the original keeps them out of its files)."""
    betas = noising.betas.to(torch.float32)
    cumprod = torch.cumprod(1 - betas, 0)
    state = {"betas": betas, "alphas_cumprod": cumprod,
             "alphas_cumprod_prev": torch.cat([torch.ones(1), cumprod[:-1]]),
             "sqrt_alphas_cumprod": cumprod.sqrt(),
             "sqrt_one_minus_alphas_cumprod": (1 - cumprod).sqrt()}
    if mean is not None and std is not None:
        state.update(data_mean=mean.reshape(1, -1), data_std=std.reshape(1, -1))
    return {"noise_augmentor." + k: v for k, v in state.items()}


def _components() -> dict[str, Any]:
    from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    text_width = 32
    unet = dict(read_json(TEMPLATE / "unet" / "config.json"), **_UNET["sd2"],
                cross_attention_dim=text_width,
                projection_class_embeddings_input_dim=2 * EMBED_DIM)
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=37, projection_dim=EMBED_DIM,
                              num_hidden_layers=2, num_attention_heads=1, image_size=32,
                              patch_size=4, hidden_act="gelu")
    normalizer = StableUnCLIPImageNormalizer(embedding_dim=EMBED_DIM)
    with torch.no_grad():
        normalizer.mean.normal_(0, 0.5)
        normalizer.std.uniform_(0.5, 1.5)
    parts = {
        "unet": UNet2DConditionModel.from_config(unet).eval(),
        "vae": AutoencoderKL.from_config(dict(read_json(TEMPLATE / "vae" / "config.json"),
                                              block_out_channels=[32, 32, 32, 32])).eval(),
        "text_encoder": _text_encoder(read_json(TEMPLATE / "text_encoder" / "config.json"),
                                      text_width, 3),
        "image_encoder": CLIPVisionModelWithProjection(vision).eval(),
        "image_normalizer": normalizer,
    }
    for module in parts.values():  # LayerNorm/GroupNorm start at 1/0: vary them
        for name, param in module.named_parameters():
            if "norm" in name:
                param.data.add_(torch.randn_like(param) * 0.05)
    pad = read_json(TEMPLATE / "tokenizer" / "tokenizer_config.json")["pad_token"]
    parts.update(
        tokenizer=clip_tokenizer(pad),
        scheduler=DDIMScheduler.from_config(
            read_json(TEMPLATE / "scheduler" / "scheduler_config.json")),
        image_noising_scheduler=DDPMScheduler.from_config(
            read_json(TEMPLATE / "image_noising_scheduler" / "scheduler_config.json")),
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
    )
    return parts


def original_state(parts: dict[str, Any], stats: bool = True) -> dict[str, torch.Tensor]:
    """The single file's tensors, in the original layout, from the diffusers components."""
    unet = parts["unet"]
    # diffusers' projection class embedding sits where SDXL's add embedding does: label_emb.0
    renamed = {k.replace("class_embedding.", "add_embedding."): v
               for k, v in unet.state_dict().items()}
    state = unet_to_original(renamed, dict(unet.config))
    state.update(vae_to_original(parts["vae"].state_dict()))
    state.update(open_clip_to_original(parts["text_encoder"].state_dict(),
                                       "cond_stage_model.model.", extra_layer=True))
    state.update(vision_to_original(parts["image_encoder"].state_dict(),
                                    "embedder.model.visual."))
    normalizer = parts["image_normalizer"]
    state.update(noise_augmentor_state(parts["image_noising_scheduler"],
                                       normalizer.mean if stats else None,
                                       normalizer.std if stats else None))
    return state


def build_tiny_sd_unclip_file(directory: str | Path, seed: int = 0, stats: bool = True
                              ) -> tuple[Path, Path]:
    """``(folder, file)``: ``<directory>/sd21-unclip/`` and ``sd21-unclip.safetensors``.

    Args:
        stats: Write the embedding statistics into the file (``noise_augmentor.data_mean``);
            without them a loader uses 0 and 1, so the folder must be compared with those.
    """
    from diffusers import StableUnCLIPImg2ImgPipeline

    directory = Path(directory)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = _components()
    folder = directory / "sd21-unclip"
    StableUnCLIPImg2ImgPipeline(**parts).save_pretrained(folder)
    file = save_single_file(directory / "sd21-unclip.safetensors", original_state(parts, stats))
    return folder, file
