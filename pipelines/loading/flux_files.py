"""Flux.1 from the separate files users have (ComfyUI's UNETLoader / DualCLIPLoader inputs):

- the transformer alone, in the original BFL layout (``double_blocks.*``; ``guidance_in`` present
  = dev) or the diffusers layout, in any stored dtype including fp8 (``float8_e4m3fn`` /
  ``float8_e5m2``: kept in fp8 and computed in bfloat16 layer by layer, or cast on load);
- CLIP-L (Hugging Face layout, ``text_model.*`` or without the prefix) and T5 (``encoder.block.*``
  + ``shared``) text encoder files, sizes read from the tensors.

Files hold weights only: the scheduler config is the family's (the hub's), the tokenizers are
looked up (``pipelines.loading.t5_tokenizer``; CLIP's ships in resources, or a
``clip_tokenizer`` folder next to the file wins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.flux_convert import bfl_config, bfl_to_diffusers, is_bfl, strip_prefix
from pipelines.loading.gguf_model import any_quantized, is_quantized, prepare, shapes
from pipelines.loading.weight_dtype import split_dtype, store_fp8
from pipelines.values import DiffusionModel

DIFFUSERS_KEY = "transformer_blocks.0.attn.to_q.weight"
CLIP_KEY = "encoder.layers.0.mlp.fc1.weight"
T5_KEY = "encoder.block.0.layer.0.SelfAttention.q.weight"
CLIP_TOKENIZER = "clip_tokenizer"


def _count(keys: Any, prefix: str) -> int:
    found = {int(k[len(prefix):].split(".")[0]) for k in keys if k.startswith(prefix)}
    return max(found) + 1 if found else 0


def diffusers_config(state: dict[str, Any]) -> dict[str, Any]:
    """A ``FluxTransformer2DModel`` config from diffusers-layout tensors."""
    from pipelines.loading.flux_convert import axes_for

    inner, in_channels = state["x_embedder.weight"].shape
    head_dim = int(state["transformer_blocks.0.attn.norm_q.weight"].shape[0])
    out = int(state["proj_out.weight"].shape[0])
    return {
        "_class_name": "FluxTransformer2DModel", "patch_size": 1, "in_channels": int(in_channels),
        "out_channels": None if out == in_channels else out,
        "num_layers": _count(state, "transformer_blocks."),
        "num_single_layers": _count(state, "single_transformer_blocks."),
        "attention_head_dim": head_dim, "num_attention_heads": int(inner) // head_dim,
        "joint_attention_dim": int(state["context_embedder.weight"].shape[1]),
        "pooled_projection_dim": int(state["time_text_embed.text_embedder.linear_1.weight"]
                                     .shape[1]),
        "guidance_embeds": "time_text_embed.guidance_embedder.linear_1.weight" in state,
        "axes_dims_rope": axes_for(head_dim),
    }


def transformer_weights(state: dict[str, torch.Tensor], path: Path
                        ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, diffusers-named tensors) of a Flux transformer file in either layout.

    Raises:
        ModelLoadError: not a Flux transformer, or an incomplete one.
    """
    state = strip_prefix(state)
    if DIFFUSERS_KEY not in state:
        state = {k.removeprefix("transformer."): v for k, v in state.items()}
    try:
        if is_bfl(state.keys()):  # configs from the shapes: GGUF blocks are not
            return bfl_config(shapes(state)), bfl_to_diffusers(state)
        if DIFFUSERS_KEY in state:
            return diffusers_config(shapes(state)), state
    except (KeyError, ValueError) as exc:
        detail = f"no {exc.args[0]!r} tensor" if isinstance(exc, KeyError) else str(exc)
        raise ModelLoadError(path, f"Not a complete Flux transformer ({detail}).",
                             hint="") from None
    raise ModelLoadError(path, "Not a Flux transformer (no double_blocks.* or "
                         "transformer_blocks.* tensors).", hint="")


def _stored_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    """The dtype most of the weights are stored in."""
    counts: dict[torch.dtype, int] = {}
    for tensor in state.values():
        if is_quantized(tensor):  # GGUF blocks: the plain tensors tell the dtype
            continue
        counts[tensor.dtype] = counts.get(tensor.dtype, 0) + tensor.numel()
    return max(counts, key=counts.__getitem__) if counts else torch.float32


def build_transformer(config: dict[str, Any], weights: dict[str, torch.Tensor], path: Path,
                      dtype: str = "default", place: torch.device | None = None) -> Any:
    """A ``FluxTransformer2DModel`` holding ``weights`` (``dtype``: see ``weight_dtype.split_dtype``).
    ``place``: a device each weight goes to once cast (no whole network on the CPU first);
    fp8 storage and GGUF blocks keep the CPU path.

    Raises:
        ModelLoadError: the weights do not fit the config.
    """
    from diffusers import FluxTransformer2DModel

    compute, storage = split_dtype(_stored_dtype(weights), dtype)
    if any_quantized(weights):  # GGUF blocks stay as they are; no fp8 storage on top
        storage = None
    init = {k: v for k, v in config.items() if not k.startswith("_")}
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = FluxTransformer2DModel(**init)
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    if missing:
        raise ModelLoadError(path, f"The Flux transformer weights are incomplete "
                             f"({len(missing)} missing, e.g. '{missing[0]}').", hint="")
    # fresh copies in the compute dtype (fp8 storage is applied below, layer by layer)
    picked = {k: weights[k] for k in expected}
    fresh = (prepare(model, picked, compute) if place is None or storage is not None
             or any_quantized(picked) else  # the same CPU cast, then that tensor moved
             {k: v.to(compute).to(place, copy=True) for k, v in picked.items()})
    try:
        model.load_state_dict(fresh, strict=True, assign=True)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise ModelLoadError(path, f"The Flux transformer weights do not fit ({detail}).",
                             hint="") from None
    model.eval().requires_grad_(False)
    return store_fp8(model, storage, compute)  # fp8: weights stay fp8, each layer upcasts


def flux_model(transformer: Any, source: str) -> DiffusionModel:
    """The DiffusionModel of a Flux transformer loaded from a file (family from its config)."""
    from pipelines.families import detect_family, get_family

    family_id = detect_family({}, dict(transformer.config))  # dev, schnell or Fill
    family = get_family(family_id)
    scheduler_config = dict(getattr(family, "scheduler_defaults", {}))
    config = transformer.config  # Fill takes image and mask channels besides the latent
    channels = int(config.get("out_channels") or config.in_channels) // 4
    latent = family.latent
    factors = [list(r) for r in latent.rgb_factors] if latent.rgb_factors else None
    if factors is not None and len(factors) != channels:
        factors = None
    return DiffusionModel(
        denoiser=transformer, scheduler_config=scheduler_config, family=family_id,
        latent_channels=channels, vae_scale_factor=latent.spatial_factor,
        prediction_type=str(scheduler_config.get("prediction_type", "epsilon")),
        latent_rgb_factors=factors,
        latent_rgb_bias=list(latent.rgb_bias) if factors and latent.rgb_bias else None,
        source=source)


def load_flux_transformer_file(path: Path, dtype: str = "default") -> DiffusionModel:
    """The Flux transformer alone from one file (BFL or diffusers layout), on the CPU.

    Raises:
        ModelLoadError: unreadable, unsafe or not a Flux transformer; ValueError: bad dtype.
    """
    from pipelines.loading.readers import read_state_dict

    path = Path(path)
    state, _ = read_state_dict(path, quantized=True)  # GGUF files stay quantized
    config, weights = transformer_weights(state, path)
    return flux_model(build_transformer(config, weights, path, dtype), str(path))


def ae_family(path: Path, scaling: str = "auto") -> str:
    """Whose latent scaling a 16-channel VAE file gets: SD3's when asked ("sd3") or named so
    (and the family is registered), else Flux's (``ae.safetensors`` records neither)."""
    from pipelines.families import family_ids

    wants_sd3 = scaling == "sd3" or (scaling == "auto" and "sd3" in path.stem.lower())
    return "sd3" if wants_sd3 and "sd3" in family_ids() else "flux_dev"


def build_ae(state: dict[str, torch.Tensor], path: Path, scaling: str = "auto",
             place: Any = None) -> Any:
    """AutoencoderKL from a 16-channel original-layout VAE without quant convs (Flux's
    ``ae.safetensors``, BFL layout = the LDM layout), with the family's scale and shift.

    Raises:
        ModelLoadError: not a VAE of that layout.
    """
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    from pipelines.families import get_family
    from pipelines.loading.readers import CONFIGS
    from pipelines.loading.readers import read_json as read_config
    from pipelines.loading.single_file import _empty, _fill, _strip, vae_config

    latent = get_family(ae_family(path, scaling)).latent
    template = dict(read_config(CONFIGS / "sd1" / "vae" / "config.json"))
    template.update(use_quant_conv=False, use_post_quant_conv=False,
                    scaling_factor=latent.scaling_factor, shift_factor=latent.shift_factor)
    try:
        config = vae_config(_strip(state, "first_stage_model.") or _strip(state, "vae.") or state,
                            template)
        vae = _empty(lambda: AutoencoderKL.from_config(config))
        weights = convert_ldm_vae_checkpoint(state, config)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        missing = f" (no {exc.args[0]!r} tensor)" if isinstance(exc, KeyError) and exc.args else ""
        raise ModelLoadError(path, f"Not a 16-channel VAE of a known layout{missing}.",
                             hint="") from None
    return _fill(vae, weights, "VAE", path, place)  # place: (device, dtype), per weight
