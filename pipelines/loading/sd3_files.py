"""SD3 / 3.5 files in the original (Stability / ComfyUI) layouts, offline: the all-in-one
checkpoint (``model.diffusion_model.joint_blocks.*``, ``text_encoders.clip_l/clip_g/t5xxl.*``,
``first_stage_model.*``), the transformer alone (ComfyUI's diffusion_models folder) and the
text encoders as separate files (clip_l, clip_g, t5xxl). Every size comes from the tensors;
the shipped templates in ``resources/configs/sd3`` fill in the rest. T5 files carry no
tokenizer: it is read from a ``t5_tokenizer`` folder (``pipelines.loading.t5_tokenizer``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading import text_files
from pipelines.loading.gguf_model import is_quantized, shapes
from pipelines.loading.readers import CONFIGS, clip_tokenizer, read_json, read_state_dict
from pipelines.loading.sd3_convert import DENOISER_PREFIX, TEXT_PREFIXES
from pipelines.loading.weight_dtype import FP8, split_dtype, store_fp8
from pipelines.values import DiffusionModel, TextEncoder, Vae

TEMPLATE = CONFIGS / "sd3"
_SUPPORTED = ("SD3 files must be an all-in-one checkpoint, a transformer file, or clip_l / "
              "clip_g / t5xxl text encoder files (.safetensors).")


def _count(state: dict[str, Any], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := regex.match(k))}
    return max(found) + 1 if found else 0


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def transformer_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The ``SD3Transformer2DModel`` config of original-layout weights (no prefix): sizes from
    the tensors; heads 64 wide unless q/k-norm weights (SD3.5) say otherwise."""
    config = {k: v for k, v in read_json(TEMPLATE / "transformer" / "config.json").items()
              if not k.startswith("_")}
    patch_weight = state["x_embedder.proj.weight"]  # [width, in, p, p]
    width, patch = int(patch_weight.shape[0]), int(patch_weight.shape[-1])
    qk_norm = state.get("joint_blocks.0.x_block.attn.ln_q.weight")
    head = 64 if qk_norm is None else int(qk_norm.shape[0])
    positions = int(state["pos_embed"].shape[1])
    config.update(
        patch_size=patch, in_channels=int(patch_weight.shape[1]),
        out_channels=int(state["final_layer.linear.weight"].shape[0]) // (patch * patch),
        num_layers=_count(state, r"joint_blocks\.(\d+)\."), attention_head_dim=head,
        num_attention_heads=width // head, caption_projection_dim=width,
        joint_attention_dim=int(state["context_embedder.weight"].shape[1]),
        pooled_projection_dim=int(state["y_embedder.mlp.0.weight"].shape[1]),
        pos_embed_max_size=round(positions ** 0.5),
        qk_norm=None if qk_norm is None else "rms_norm",
        dual_attention_layers=sorted({int(k.split(".")[1]) for k in state
                                      if ".x_block.attn2." in k}),
    )
    return config


def _fill(module: Any, weights: dict[str, torch.Tensor], what: str, path: Path,
          place: Any = None) -> Any:
    from pipelines.loading.single_file import _fill as fill

    return fill(module, weights, what, path, place)


def build_transformer(state: dict[str, torch.Tensor], path: Path, place: Any = None) -> Any:
    """An ``SD3Transformer2DModel`` (float32) from original-layout weights without prefix;
    ``place``: (device, dtype) each weight goes to instead (``single_file._fill``)."""
    from diffusers import SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    from pipelines.loading.single_file import _empty

    try:
        config = transformer_config(shapes(state))  # GGUF blocks: their dequantized shapes
        weights = convert_sd3_transformer_checkpoint_to_diffusers(dict(state))
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelLoadError(path, f"Not an SD3 transformer of a known layout ({exc}). "
                             f"{_SUPPORTED}", hint="") from None
    model = _empty(lambda: SD3Transformer2DModel.from_config(config))
    return _fill(model, weights, "transformer", path, place)


def build_clip(state: dict[str, torch.Tensor], slot: str, path: Path, place: Any = None) -> Any:
    """A ``CLIPTextModelWithProjection`` (``slot``'s template: text_encoder = CLIP-L,
    text_encoder_2 = CLIP-G) from Hugging Face-layout weights, in float32 (or ``place``)."""
    return text_files.build_clip(state, path, TEMPLATE / slot, projection=True,
                                 supported=_SUPPORTED, place=place)


def build_t5(state: dict[str, torch.Tensor], path: Path) -> Any:
    """A ``T5EncoderModel`` from Hugging Face-layout weights, in the stored dtype."""
    return text_files.build_t5(state, path, supported=_SUPPORTED)


def sd3_model(transformer: Any, source: str) -> DiffusionModel:
    """The ``DiffusionModel`` of an SD3 transformer, sampled with the template's scheduler."""
    from pipelines.families import get_family
    from pipelines.sampling.previews import default_factors

    channels = int(transformer.config.out_channels)
    factors, bias = default_factors("sd3", channels)
    scheduler = read_json(TEMPLATE / "scheduler" / "scheduler_config.json")
    return DiffusionModel(
        denoiser=transformer, scheduler_config=scheduler, family="sd3",
        latent_channels=channels, vae_scale_factor=get_family("sd3").latent.spatial_factor,
        prediction_type="flow_prediction", latent_rgb_factors=factors, latent_rgb_bias=bias,
        source=source)


def text_encoder(clip_l: Any, clip_g: Any, t5: Any, source: str, near: Path) -> TextEncoder:
    """The SD3 ``TextEncoder`` of built encoders (T5 may be None), with the shipped CLIP
    tokenizers and the T5 tokenizer found near ``near``."""
    from pipelines.loading.t5_tokenizer import t5_tokenizer

    tokenizer_3 = t5_tokenizer(near) if t5 is not None else None
    return TextEncoder(tokenizer=clip_tokenizer("<|endoftext|>"), text_encoder=clip_l,
                       source=source, tokenizer_2=clip_tokenizer("!"), text_encoder_2=clip_g,
                       family="sd3", tokenizer_3=tokenizer_3, text_encoder_3=t5)


def load_all_in_one(state: dict[str, torch.Tensor], path: Path, device: Any,
                    dtype: Any, in_ram: Any = None) -> tuple[DiffusionModel, TextEncoder, Vae]:
    """(model, clip, vae) of an all-in-one SD3 checkpoint; ``dtype`` as ``load_checkpoint``'s.
    A file without ``text_encoders.*`` gives a TextEncoder without encoders (use Load Text
    Encoders); one without T5 gives zeros for its states, as diffusers does."""
    from pipelines.loading.components import direct_device, home
    from pipelines.loading.single_file import build_vae, wrap_vae
    from pipelines.memory.precision import component_dtypes

    dtypes = component_dtypes(dtype)
    where = direct_device(device)  # a GPU: each weight straight there, as SD single files
    places = {role: (where, dtypes[role]) if where else None for role in dtypes}
    transformer = build_transformer(_strip(state, DENOISER_PREFIX), path, places["denoiser"])
    if "first_stage_model.encoder.conv_in.weight" not in state:
        raise ModelLoadError(path, "This SD3 checkpoint has no VAE (first_stage_model.*): "
                             "load it with Load Diffusion Model and a separate VAE.", hint="")
    vae = build_vae(state, read_json(TEMPLATE / "vae" / "config.json"), path, places["vae"])
    texts = {name: _strip(state, prefix) for name, prefix in TEXT_PREFIXES.items()}
    clip_l, clip_g = (build_clip(texts[name], slot, path, places["text_encoder"])
                      if texts[name] else None
                      for name, slot in (("clip_l", "text_encoder"),
                                         ("clip_g", "text_encoder_2")))
    t5 = build_t5(texts["t5xxl"], path) if texts["t5xxl"] else None
    transformer.to(device=device, dtype=dtypes["denoiser"])
    vae.to(device=device, dtype=dtypes["vae"])
    for encoder in (clip_l, clip_g, t5):
        if encoder is not None:
            encoder.to(device=home(encoder, device, in_ram), dtype=dtypes["text_encoder"])
    clip = text_encoder(clip_l, clip_g, t5, str(path), path.parent)
    return sd3_model(transformer, str(path)), clip, wrap_vae(vae, str(path))


def load_transformer_file(path: Path, dtype: str) -> DiffusionModel:
    """The SD3 transformer alone (with or without ``model.diffusion_model.``), computed in
    ``dtype`` ("default": the dtype the file stores; fp8 choices or fp8 files: fp8 storage,
    bfloat16 compute; see ``weight_dtype.split_dtype``)."""
    state, _ = read_state_dict(path, supported=_SUPPORTED, quantized=True)  # GGUF stays so
    state = _strip(state, DENOISER_PREFIX) or state
    plain = {k: t for k, t in state.items() if not is_quantized(t)}
    stored = next((t.dtype for t in plain.values() if t.dtype in FP8), None)
    try:
        compute, storage = split_dtype(stored or text_files.stored_dtype(plain), dtype)
    except ValueError as exc:
        raise ModelLoadError(path, str(exc), hint="") from None
    if len(plain) < len(state):  # GGUF blocks stay as they are; no fp8 storage on top
        storage = None
    transformer = build_transformer(state, path).to(compute)
    return sd3_model(store_fp8(transformer, storage, compute), str(path))


def load_text_encoder_files(paths: list[Path]) -> TextEncoder:
    """CLIP-L, CLIP-G and optionally T5 from separate files (ComfyUI's TripleCLIPLoader or
    CLIPLoader/DualCLIPLoader with type sd3), in any order: T5 by its keys, the narrower
    CLIP as CLIP-L."""
    clips: list[tuple[int, dict[str, torch.Tensor], Path]] = []
    t5 = t5_path = None
    for path in paths:
        state, _ = read_state_dict(path, supported=_SUPPORTED)
        for prefix in (*TEXT_PREFIXES.values(), "text_encoders.", "transformer."):
            state = _strip(state, prefix) or state
        if any(k.startswith("encoder.block.") for k in state):
            if t5 is not None:
                raise ModelLoadError(path, "Two T5 files were given; SD3 takes one.", hint="")
            t5, t5_path = build_t5(state, path), path
        elif any(k.endswith("embeddings.token_embedding.weight") for k in state):
            clips.append((text_files.clip_width(state), state, path))
        else:
            raise ModelLoadError(path, f"Not a CLIP or T5 text encoder. {_SUPPORTED}", hint="")
    if len(clips) != 2:
        names = ", ".join(p.name for p in paths)
        raise ModelLoadError(paths[0] if paths else Path("."),
                             f"SD3 needs both CLIP text encoders (clip_l and clip_g); got "
                             f"{len(clips)} CLIP file(s) among: {names}.", hint="")
    (_, state_l, path_l), (_, state_g, path_g) = sorted(clips, key=lambda c: c[0])
    clip_l = build_clip(state_l, "text_encoder", path_l)
    clip_g = build_clip(state_g, "text_encoder_2", path_g)
    source = " + ".join(str(p) for p in paths)
    return text_encoder(clip_l, clip_g, t5, source, (t5_path or path_l).parent)
