"""How a ``UNet2DConditionModel`` is called: the inputs SD-style families share, and SDXL's
micro-conditioning (pooled text embeds + time ids), computed exactly as diffusers' pipelines."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from pipelines.values import Conditioning, DiffusionModel


def batched(tensor: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    """``tensor`` with batch ``batch`` (a batch of 1 is repeated).

    Raises:
        ValueError: another batch size.
    """
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.repeat(batch, *([1] * (tensor.dim() - 1)))
    raise ValueError(f"{what} has batch {tensor.shape[0]} but the latent has batch {batch}")


def guidance_embedding(cfg: float, dim: int, batch: int) -> torch.Tensor:
    """LCM-distilled UNets take (cfg - 1) as a sinusoidal embedding, as the SD pipeline builds it."""
    w = torch.tensor(cfg - 1).repeat(batch) * 1000.0
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    emb = w.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 == 1 else emb


def unet_inputs(model: DiffusionModel, context: torch.Tensor, cfg: float, batch: int,
                device: torch.device) -> dict[str, Any]:
    """Cross-attention states, plus the guidance embedding for LCM-distilled UNets."""
    unet = model.denoiser
    dtype = unet.dtype  # once: diffusers walks every submodule to answer it
    inputs: dict[str, Any] = {"encoder_hidden_states": context.to(device=device, dtype=dtype),
                              "return_dict": False}
    proj_dim = getattr(unet.config, "time_cond_proj_dim", None)
    if proj_dim is not None:
        inputs["timestep_cond"] = guidance_embedding(cfg, proj_dim, batch).to(device, dtype)
    return inputs


def takes_micro_conditioning(model: DiffusionModel) -> bool:
    """The UNet embeds pooled text + time ids (``addition_embed_type == "text_time"``)."""
    return getattr(model.denoiser.config, "addition_embed_type", None) == "text_time"


def micro_conditioning(
    model: DiffusionModel, pos: Conditioning, neg: Conditioning | None, x: torch.Tensor, cfg: bool
) -> dict[str, torch.Tensor]:
    """SDXL micro-conditioning: pooled text embeds + (orig size, crop 0,0, target size); the
    refiner takes (orig size, crop 0,0, aesthetic score) instead: 6.0 positive, 2.5 negative,
    the defaults of diffusers' SDXL img2img pipeline.

    Raises:
        ValueError: a conditioning without the pooled output (encoded by another family).
    """
    pos_pooled, neg_pooled = pos.extras.get("pooled"), neg.extras.get("pooled") if neg else None
    if pos_pooled is None or (cfg and neg is not None and neg_pooled is None):
        raise ValueError(
            "This model needs pooled text embeddings (encode with its SDXL text encoders)"
        )
    batch, height, width = (
        x.shape[0],
        x.shape[2] * model.vae_scale_factor,
        x.shape[3] * model.vae_scale_factor,
    )
    pooled = batched(pos_pooled, batch, "positive pooled")
    if cfg:
        pooled = torch.cat([batched(neg_pooled, batch, "negative pooled"), pooled])
    config = model.denoiser.config
    id_count = 6
    if getattr(config, "projection_class_embeddings_input_dim", None) and getattr(
        config, "addition_time_embed_dim", None
    ):
        id_count = (
            config.projection_class_embeddings_input_dim - pooled.shape[-1]
        ) // config.addition_time_embed_dim
    if id_count == 5:  # refiner: aesthetic score instead of the target size
        positive_ids = [[height, width, 0, 0, 6.0]] * batch
        ids = ([[height, width, 0, 0, 2.5]] * batch if cfg else []) + positive_ids
        time_ids = torch.tensor(ids, dtype=pooled.dtype)
    else:
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=pooled.dtype)
        time_ids = time_ids.repeat(pooled.shape[0], 1)
    dtype = model.denoiser.dtype
    return {"text_embeds": pooled.to(x.device).to(dtype), "time_ids": time_ids.to(x.device).to(dtype)}


def takes_grounding(unet: Any) -> bool:
    """The UNet has GLIGEN layers (a position net and gated self-attention fusers): a
    diffusers GLIGEN UNet (``attention_type="gated"``) or one given them for a run."""
    return isinstance(getattr(unet, "position_net", None), torch.nn.Module)
