"""How each transformer ControlNet kind is fed and called, as diffusers' pipelines do; a table
(``STYLES``) keyed by ``ControlNet.kind``, so the runner (``transformer_control``) has no
family branches.

- ``sd3_controlnet`` (``SD3ControlNetModel``, StableDiffusion3ControlNetPipeline): the hint is
  VAE-encoded, ``(z - shift) * scale`` with shift 0 for nets that force zero pooled
  projections (InstantX's SD3 nets; SD3.5's Stability nets keep the VAE's shift); the net runs
  on the model input with the prompt states (none when it has no context embedder: SD3.5
  large's nets) and the pooled projections (zeros when forced); a net without its own patch
  embedding (SD3.5 large) takes the tokens of the transformer's ``pos_embed``, as the pipeline
  copies it in. Its residuals are ``block_controlnet_hidden_states``. Stability's SD3.5 canny
  net reads its edges scaled ``x * 255 * 0.5 + 0.5`` (their reference code and model card)
  instead of ``2x - 1``.
- ``flux_controlnet`` (``FluxControlNetModel``, FluxControlNetPipeline): InstantX / Shakker
  nets take the hint VAE-encoded, ``(z - shift) * scale`` and packed into 2x2 tokens; XLabs nets
  (an ``input_hint_block``) take the pixels in [-1, 1] and repeat their few blocks over the
  transformer's. A Union net gets its ``control_mode``. The net runs on the packed model input
  with ``timestep / 1000``, the text/image ids, and the guidance when it embeds one. Its
  residuals are ``controlnet_block_samples`` and ``controlnet_single_block_samples``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from pipelines.families.flux import DEFAULT_GUIDANCE, pack


@dataclass(frozen=True)
class Residuals:
    """One residual list the transformer takes: its keyword, the transformer's blocks it is
    spread over, and whether a short list repeats (XLabs) instead of stretching."""

    name: str
    blocks: str  # the transformer's ModuleList the list is spread over
    repeat: bool = False
    ceil: bool = False  # the stride over the blocks is rounded up (Flux) or not (SD3)

    def index(self, block: int, blocks: int, length: int) -> int:
        """Which entry of a ``length`` list the transformer adds at ``block`` of ``blocks``
        (the transformer's own indexing, so a list spread to every block is the same sum)."""
        if self.repeat:
            return block % length
        if self.ceil:
            return block // math.ceil(blocks / length)
        return int(block / (blocks / length))


@dataclass(frozen=True)
class Style:
    """What one ControlNet kind needs: its hint (``hint``: pixels [B, 3, H, W] in 0..1 -> the
    net's ``controlnet_cond``), its call, and the residual lists it returns (in order)."""

    hint: Callable[[Any, torch.Tensor, Any], torch.Tensor]
    call: Callable[..., list[list[torch.Tensor] | None]]
    residuals: Callable[[Any], tuple[Residuals, ...]]
    patch: int = 2  # latent pixels per token side (for masks)
    extra: tuple[tuple[str, Any], ...] = ()  # fixed transformer keywords while controlled


def _latents(vae: Any, pixels: torch.Tensor, shift: float) -> torch.Tensor:
    """The hint's VAE latents (the posterior's mode, as our VAE Encode): ``(z - shift) *
    scale``; float32 on the pixels' device."""
    from pipelines.sampling.vae import encode

    raw = encode(vae, pixels.permute(0, 2, 3, 1).float(), scaled=False).samples
    return ((raw - shift) * vae.scaling_factor).to(pixels.device)


# --- SD3 -----------------------------------------------------------------------------------
CANNY = 1  # Stability's SD3.5 ControlNet ``control_type`` of the canny net


def _sd3_hint(net: Any, pixels: torch.Tensor, vae: Any) -> torch.Tensor:
    if getattr(net, "studio_control_type", None) == CANNY:
        # Stability's sd3_infer.py: the VAE reads 0..1 edges as ``x * 255 * 0.5 + 0.5``
        # (not 2x - 1); ``encode`` computes ``2p - 1`` of what it gets, so hand it p
        pixels = (pixels * 127.5 + 1.5) / 2
    forced = bool(net.config.force_zeros_for_pooled_projection)
    return _latents(vae, pixels, 0.0 if forced else float(vae.shift_factor or 0.0))


def _sd3_call(net: Any, transformer: Any, x: torch.Tensor, t: Any, inputs: dict[str, Any],
              cond: torch.Tensor, scale: float, mode: torch.Tensor | None,
              guidance: torch.Tensor | None) -> list[list[torch.Tensor] | None]:
    dtype = cond.dtype
    hidden = x if net.pos_embed is not None else transformer.pos_embed(x)
    pooled = inputs["pooled_projections"]
    if net.config.force_zeros_for_pooled_projection:
        pooled = torch.zeros_like(pooled)
    states = (inputs["encoder_hidden_states"].to(dtype)
              if net.config.joint_attention_dim is not None else None)
    out = net(hidden_states=hidden.to(dtype), timestep=t.expand(x.shape[0]),
              encoder_hidden_states=states, pooled_projections=pooled.to(dtype),
              controlnet_cond=cond, conditioning_scale=scale, return_dict=False)[0]
    return [list(out)]


def _sd3_residuals(net: Any) -> tuple[Residuals, ...]:
    return (Residuals("block_controlnet_hidden_states", "transformer_blocks"),)


# --- Flux ----------------------------------------------------------------------------------
def _flux_hint(net: Any, pixels: torch.Tensor, vae: Any) -> torch.Tensor:
    if net.input_hint_block is not None:  # XLabs: pixels in [-1, 1]
        return pixels * 2 - 1
    return pack(_latents(vae, pixels, float(vae.shift_factor or 0.0)))


def _flux_call(net: Any, transformer: Any, x: torch.Tensor, t: Any, inputs: dict[str, Any],
               cond: torch.Tensor, scale: float, mode: torch.Tensor | None,
               guidance: torch.Tensor | None) -> list[list[torch.Tensor] | None]:
    dtype = cond.dtype
    b, _, h, w = x.shape
    if h % 2 or w % 2:  # as the family's call: whole patches (circular padding)
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="circular")
    timestep = t.expand(b).to(x.dtype) / 1000
    double, single = net(
        hidden_states=pack(x).to(dtype), controlnet_cond=cond, controlnet_mode=mode,
        conditioning_scale=scale, timestep=timestep,
        guidance=guidance if net.config.guidance_embeds else None,
        pooled_projections=inputs["pooled_projections"].to(dtype),
        encoder_hidden_states=inputs["encoder_hidden_states"].to(dtype),
        txt_ids=inputs["txt_ids"], img_ids=inputs["img_ids"], return_dict=False)
    return [None if double is None else list(double), None if single is None else list(single)]


def _flux_residuals(net: Any) -> tuple[Residuals, ...]:
    return (Residuals("controlnet_block_samples", "transformer_blocks",
                      repeat=net.input_hint_block is not None, ceil=True),
            Residuals("controlnet_single_block_samples", "single_transformer_blocks",
                      ceil=True))


def flux_guidance(conditionings: list[Any], batch: int) -> torch.Tensor:
    """The guidance value per row (the conditionings' Flux Guidance, else the default), as the
    family's denoiser inputs make it; a ControlNet that embeds guidance reads it even when
    the transformer (schnell) does not."""
    values = []
    for cond in conditionings:
        value = cond.extras.get("guidance")
        values.append(torch.full([batch], DEFAULT_GUIDANCE if value is None else float(value),
                                 dtype=torch.float32))
    return torch.cat(values)


STYLES: dict[str, Style] = {
    "sd3_controlnet": Style(_sd3_hint, _sd3_call, _sd3_residuals),
    "flux_controlnet": Style(_flux_hint, _flux_call, _flux_residuals,
                             extra=(("controlnet_blocks_repeat", False),)),
}
