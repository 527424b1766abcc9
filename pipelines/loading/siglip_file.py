"""A SigLIP vision tower from one file, as ComfyUI's CLIPVisionLoader reads
``sigclip_vision_patch14_384.safetensors`` (Flux Redux's image encoder): Hugging Face
``SiglipVisionModel`` keys of transformers 4 (``vision_model.*``; transformers 5 drops the
prefix), the config read off the tensor shapes. SigLIP
has no ``pre_layrnorm`` and no ``visual_projection``, which tells it from a CLIP tower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import ClipVision

_PREFIX = "vision_model."
_HINT = "Pick a SigLIP vision file (sigclip_vision_patch14_384.safetensors) or a folder."


def is_siglip_state(state: dict[str, Any]) -> bool:
    return (_PREFIX + "post_layernorm.weight" in state and "visual_projection.weight" not in state
            and _PREFIX + "pre_layrnorm.weight" not in state)


def _heads(hidden: int) -> int:
    """Attention heads (not in the shapes): so400m (1152 wide, Redux's) has 16 of 72
    channels; other SigLIP towers have 64-channel heads."""
    return 16 if hidden == 1152 else max(1, hidden // 64)


def siglip_from_state(state: dict[str, torch.Tensor], path: Path,
                      dtype: torch.dtype) -> ClipVision:
    """Raises: ModelLoadError: shapes or weights that do not make a SigLIP tower."""
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    try:
        patch = state[_PREFIX + "embeddings.patch_embedding.weight"]
        positions = state[_PREFIX + "embeddings.position_embedding.weight"].shape[0]
        intermediate = state[_PREFIX + "encoder.layers.0.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise ModelLoadError(path, f"Not a SigLIP vision model (no {exc.args[0]}).",
                             hint=_HINT) from None
    hidden, patch_size = int(patch.shape[0]), int(patch.shape[-1])
    side = round(positions ** 0.5)
    layers = len({k.split(".")[3] for k in state if k.startswith(_PREFIX + "encoder.layers.")})
    config = SiglipVisionConfig(
        hidden_size=hidden, intermediate_size=int(intermediate), num_hidden_layers=layers,
        num_attention_heads=_heads(hidden), num_channels=int(patch.shape[1]),
        image_size=side * patch_size, patch_size=patch_size, layer_norm_eps=1e-6,
        vision_use_head=any(k.startswith(_PREFIX + "head.") for k in state))
    encoder = SiglipVisionModel(config)
    if not any(k.startswith(_PREFIX) for k in encoder.state_dict()):  # transformers 5's layout
        state = {k.removeprefix(_PREFIX): v for k, v in state.items()}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelLoadError(path, f"Not a complete SigLIP vision model (missing "
                             f"{missing[:2]}, unexpected {unexpected[:2]}).", hint=_HINT)
    size = side * patch_size
    processor = SiglipImageProcessor(size={"height": size, "width": size})
    return ClipVision(encoder.to(dtype), processor, str(path))
