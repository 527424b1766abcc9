"""ComfyUI's all-in-one Flux checkpoints (``flux1-dev-fp8.safetensors`` and the like, loaded by
its CheckpointLoaderSimple): the BFL transformer under ``model.diffusion_model.``, CLIP-L and
T5 under ``text_encoders.clip_l.transformer.`` / ``text_encoders.t5xxl.transformer.`` and the
16-channel VAE under ``vae.`` (or ``first_stage_model.``), read with the part readers. An fp8
transformer stays fp8 (computed in bfloat16) unless float32 is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import DiffusionModel, TextEncoder, Vae

DENOISER = "model.diffusion_model."
VAE_PREFIXES = ("vae.", "first_stage_model.")
CLIP_PREFIX, T5_PREFIX = "text_encoders.clip_l.", "text_encoders.t5xxl."
_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def is_flux_checkpoint(keys: Any) -> bool:
    """A Flux transformer under ``model.diffusion_model.`` with a VAE beside it."""
    return any(k.startswith(DENOISER) for k in keys) and any(
        k.startswith(p + "encoder.conv_in.") for p in VAE_PREFIXES for k in keys)


def _part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_flux_checkpoint(state: dict[str, torch.Tensor], path: Path, device: Any, dtype: Any,
                         family_id: str, in_ram: Any = None
                         ) -> tuple[DiffusionModel, TextEncoder, Vae]:
    """(model, clip, vae) of an all-in-one Flux file; ``dtype`` as ``load_checkpoint``'s;
    ``in_ram``: ``load_checkpoint_state``'s (T5 left on the CPU).
    Without ``text_encoders.*`` the TextEncoder holds none (use Load Text Encoders).

    Raises:
        ModelLoadError: a part is missing or of an unknown layout.
    """
    from pipelines.families import get_family
    from pipelines.loading.components import direct_device, home
    from pipelines.loading.flux_files import build_ae, build_transformer, flux_model
    from pipelines.loading.flux_files import transformer_weights as weights_of
    from pipelines.loading.flux_text import _clip, clip_tokenizer_near
    from pipelines.loading.single_file import wrap_vae
    from pipelines.loading.t5_tokenizer import t5_tokenizer
    from pipelines.loading.text_files import FP8, build_t5
    from pipelines.memory.precision import component_dtypes

    dtypes = component_dtypes(dtype)
    denoiser = _part(state, DENOISER)
    config, weights = weights_of(denoiser, path)
    fp8 = any(t.dtype in FP8 for t in weights.values())
    wanted = dtypes["denoiser"]
    choice = "default" if fp8 and wanted != torch.float32 else _NAMES.get(wanted, "default")
    where = direct_device(device)  # a GPU: plain weights straight there, one at a time
    transformer = build_transformer(config, weights, path, choice, where).to(device)
    vae_state = next((s for p in VAE_PREFIXES if (s := _part(state, p))), {})
    if not vae_state:
        raise ModelLoadError(path, "This Flux checkpoint has no VAE (vae.*).", hint="")
    vae = build_ae(vae_state, path, "flux", (where, dtypes["vae"]) if where else None)
    vae.to(device=device, dtype=dtypes["vae"])
    clip_state, t5_state = _part(state, CLIP_PREFIX), _part(state, T5_PREFIX)
    length = int(getattr(get_family(family_id), "t5_max_length", 512))
    encoders = {"text_encoder": _clip(clip_state, path) if clip_state else None,
                "text_encoder_2": build_t5(t5_state, path) if t5_state else None}
    for encoder in encoders.values():
        if encoder is not None:
            encoder.to(device=home(encoder, device, in_ram), dtype=dtypes["text_encoder"])
    clip = TextEncoder(
        tokenizer=clip_tokenizer_near(path), source=str(path), family=family_id,
        tokenizer_2=t5_tokenizer(path.parent, length) if t5_state else None, **encoders)
    return flux_model(transformer, str(path)), clip, wrap_vae(vae, str(path))
