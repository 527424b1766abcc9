"""LoRA files of transformer families in the key layouts users have, turned into diffusers/PEFT
names (``transformer.<module>.lora_A/lora_B``, ``text_encoder.*``) that ``pipelines.loading.lora``
applies to patched copies like SD LoRAs. The conversions are diffusers' own
(``FluxLoraLoaderMixin.lora_state_dict``: kohya/sd-scripts ``lora_unet_double_blocks_*`` with
fused qkv split per projection, ComfyUI ``diffusion_model.*`` mixtures, XLabs, BFL control,
fal Kontext); alphas kohya files carry are folded into the weights by diffusers, the PEFT
alphas it sets apart are put back under their keys. SD3: PEFT files as they are, kohya/ComfyUI
original-layout and other trainers' files renamed by ``sd3_lora``."""

from __future__ import annotations

from typing import Any

import torch

from pipelines.errors import ModelLoadError

_PEFT_PARTS = ("transformer.", "text_encoder.", "text_encoder_2.")


def _is_peft(state: dict[str, torch.Tensor]) -> bool:
    return all(k.startswith(_PEFT_PARTS) for k in state if "lora" in k)


def flux_lora_state(state: dict[str, torch.Tensor], source: str = "LoRA"
                    ) -> dict[str, torch.Tensor]:
    """A Flux LoRA of any layout diffusers reads, in PEFT names.

    Raises:
        ModelLoadError: diffusers cannot read the layout.
    """
    if _is_peft(state):
        return state
    from diffusers.loaders import FluxLoraLoaderMixin

    try:
        converted, alphas = FluxLoraLoaderMixin.lora_state_dict(dict(state), return_alphas=True)
    except (KeyError, ValueError, RuntimeError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(source, f"Not a Flux LoRA layout that can be read ({detail}).",
                             hint="") from None
    return {**converted, **(alphas or {})}


def sd3_lora_state(state: dict[str, torch.Tensor], source: str = "LoRA"
                   ) -> dict[str, torch.Tensor]:
    """An SD3 LoRA: PEFT names as they are, the other layouts renamed (``sd3_lora``)."""
    from pipelines.loading.sd3_lora import sd3_lora_state as renamed

    return renamed(state, source)


def lora_state(kind: str, state: dict[str, Any], source: str) -> dict[str, Any]:
    return (flux_lora_state if kind == "flux" else sd3_lora_state)(state, source)
