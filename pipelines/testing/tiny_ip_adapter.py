"""A tiny random CLIP vision encoder (saved with ``save_pretrained``) and tiny random IP-Adapter
files in the original layout (``image_proj.*`` / ``ip_adapter.*``), plain and plus, that fit a
given UNet: for tests, built offline in about a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# Plus adapters: the Resampler of the IP-Adapter repository (heads of 64 channels, as the
# released files; diffusers' converter assumes 64) at a tiny width.
PLUS_WIDTH, PLUS_QUERIES, PLUS_DEPTH, PLUS_FF = 64, 4, 4, 4


def build_tiny_clip_vision(directory: str | Path, seed: int = 0, width: int = 32) -> Path:
    """A ``CLIPVisionModelWithProjection`` (32 px images, ``width`` wide with a projection as
    wide, 3 layers) with its ``CLIPImageProcessor``, saved into ``directory``."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from pipelines.loading.clip_vision import default_processor

    directory = Path(directory)
    config = CLIPVisionConfig(hidden_size=width, intermediate_size=37, projection_dim=width,
                              num_hidden_layers=3, num_attention_heads=4, image_size=32,
                              patch_size=4, num_channels=3, hidden_act="quick_gelu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(config).eval()
    model.save_pretrained(directory)
    default_processor(32).save_pretrained(directory)
    return directory


def _cross_attention_sizes(unet: Any) -> list[int]:
    """Hidden size of every cross-attention layer, in the UNet's processor order."""
    config = unet.config
    sizes = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            sizes.append(config.block_out_channels[-1])
        elif name.startswith("up_blocks"):
            sizes.append(list(reversed(config.block_out_channels))[int(name[len("up_blocks.")])])
        else:
            sizes.append(config.block_out_channels[int(name[len("down_blocks.")])])
    return sizes


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    fan_in = shape[-1] if len(shape) > 1 else 1
    return torch.randn(*shape, generator=generator) / fan_in**0.5


def _norm(generator: torch.Generator, prefix: str, dim: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": 1 + 0.1 * torch.randn(dim, generator=generator),
            f"{prefix}.bias": 0.1 * torch.randn(dim, generator=generator)}


def _plus_projection(g: torch.Generator, clip_width: int, cross: int) -> dict[str, torch.Tensor]:
    dim, inner = PLUS_WIDTH, 64
    state = {"latents": torch.randn(1, PLUS_QUERIES, dim, generator=g) / dim**0.5,
             "proj_in.weight": _randn(g, dim, clip_width), "proj_in.bias": _randn(g, dim),
             "proj_out.weight": _randn(g, cross, dim), "proj_out.bias": _randn(g, cross),
             **_norm(g, "norm_out", cross)}
    for i in range(PLUS_DEPTH):
        attn, ff = f"layers.{i}.0", f"layers.{i}.1"
        state |= {**_norm(g, f"{attn}.norm1", dim), **_norm(g, f"{attn}.norm2", dim),
                  f"{attn}.to_q.weight": _randn(g, inner, dim),
                  f"{attn}.to_kv.weight": _randn(g, 2 * inner, dim),
                  f"{attn}.to_out.weight": _randn(g, dim, inner),
                  **_norm(g, f"{ff}.0", dim),
                  f"{ff}.1.weight": _randn(g, dim * PLUS_FF, dim),
                  f"{ff}.3.weight": _randn(g, dim, dim * PLUS_FF)}
    return state


def ip_adapter_state(unet: Any, vision_config: Any, kind: str = "plain",
                     seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """A random IP-Adapter for ``unet`` and a CLIP vision model of ``vision_config`` (a ``CLIPVisionConfig``), as the two
    dicts ``{"image_proj": ..., "ip_adapter": ...}`` (``kind``: "plain" or "plus")."""
    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    if kind == "plain":
        width = vision_config.projection_dim
        image_proj = {"proj.weight": _randn(g, 4 * cross, width),
                      "proj.bias": _randn(g, 4 * cross), **_norm(g, "norm", cross)}
    elif kind == "plus":
        image_proj = _plus_projection(g, vision_config.hidden_size, cross)
    else:
        raise ValueError(f"unknown tiny IP-Adapter kind {kind!r}")
    ip_adapter = {}
    for index, hidden in enumerate(_cross_attention_sizes(unet)):
        key = 2 * index + 1
        ip_adapter[f"{key}.to_k_ip.weight"] = _randn(g, hidden, cross)
        ip_adapter[f"{key}.to_v_ip.weight"] = _randn(g, hidden, cross)
    return {"image_proj": image_proj, "ip_adapter": ip_adapter}


def save_ip_adapter(state: dict[str, dict[str, torch.Tensor]], path: str | Path) -> Path:
    """Write the two dicts as one .safetensors file (``image_proj.*`` / ``ip_adapter.*``)."""
    from safetensors.torch import save_file

    path = Path(path)
    flat = {f"{part}.{key}": value.contiguous() for part, values in state.items()
            for key, value in values.items()}
    save_file(flat, str(path))
    return path
