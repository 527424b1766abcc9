"""Flux's text encoders from the files ComfyUI users have: a CLIP-L file and a T5-XXL file
(Hugging Face layouts, any order), with tokenizers found next to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.flux_files import (
    CLIP_KEY,
    CLIP_TOKENIZER,
    FP8,
    T5_KEY,
    _count,
    _stored_dtype,
)
from pipelines.values import TextEncoder


# --- text encoders ---------------------------------------------------------------------------
def _kind(keys: Any) -> str:
    if any(k.endswith(T5_KEY) for k in keys):
        return "t5"
    if any(k.endswith(CLIP_KEY) for k in keys):
        return "clip"
    return ""


def text_encoder_kind(keys: Any) -> str:
    """"clip" (CLIP text, HF layout), "t5" (T5 encoder) or "" from a file's tensor names."""
    return _kind(keys)


def _text_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    stored = _stored_dtype(state)
    return torch.bfloat16 if stored in FP8 else stored


def build_clip(state: dict[str, torch.Tensor], path: Path) -> Any:
    """CLIPTextModel from a CLIP-L file (sizes from the tensors, CLIP-L's config otherwise)."""
    from pipelines.loading.readers import CONFIGS
    from pipelines.loading.single_file import _build_text

    prefix = next((k[: -len(CLIP_KEY)] for k in state if k.endswith(CLIP_KEY)), "")
    outer = prefix.removesuffix("text_model.")  # e.g. a checkpoint's "text_encoders.clip_l."
    body = {k[len(outer):]: v for k, v in state.items() if k.startswith(outer)}
    if not prefix.endswith("text_model."):
        body = {f"text_model.{k}": v for k, v in body.items()}
    dtype = _text_dtype(body)
    model = _build_text(body, "", False, CONFIGS / "sd1" / "text_encoder", False, path)
    return model.to(dtype)


def t5_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    vocab, d_model = state["shared.weight"].shape
    heads = int(state["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
                .shape[1])
    buckets = int(state["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
                  .shape[0])
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state
    wi = "wi_0" if gated else "wi"
    return dict(
        vocab_size=int(vocab), d_model=int(d_model), num_heads=heads,
        d_kv=int(state[T5_KEY].shape[0]) // heads,
        d_ff=int(state[f"encoder.block.0.layer.1.DenseReluDense.{wi}.weight"].shape[0]),
        num_layers=_count(state, "encoder.block."), relative_attention_num_buckets=buckets,
        feed_forward_proj="gated-gelu" if gated else "relu", is_encoder_decoder=False,
        dropout_rate=0.0)


def build_t5(state: dict[str, torch.Tensor], path: Path) -> Any:
    """T5EncoderModel from a T5 encoder file (ComfyUI's t5xxl_*.safetensors, HF names)."""
    from transformers import T5Config, T5EncoderModel

    prefix = next(k[: -len(T5_KEY)] for k in state if k.endswith(T5_KEY))
    body = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if "shared.weight" not in body and "encoder.embed_tokens.weight" in body:
        body["shared.weight"] = body["encoder.embed_tokens.weight"]
    try:
        config = T5Config(**t5_config(body))
    except KeyError as exc:
        raise ModelLoadError(path, f"Not a complete T5 encoder (no {exc.args[0]!r} tensor).",
                             hint="") from None
    dtype = _text_dtype(body)
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = T5EncoderModel(config)
    body.setdefault("encoder.embed_tokens.weight", body["shared.weight"])
    expected = model.state_dict()
    missing = [k for k in expected if k not in body]
    if missing:
        raise ModelLoadError(path, f"The T5 weights are incomplete ({len(missing)} missing, "
                             f"e.g. '{missing[0]}').", hint="")
    model.load_state_dict({k: body[k].to(dtype, copy=True) for k in expected}, strict=True,
                          assign=True)
    model.tie_weights()
    return model.eval().requires_grad_(False)


def clip_tokenizer_near(path: Path) -> Any:
    """A ``clip_tokenizer`` folder next to the file, else the CLIP tokenizer we ship."""
    from transformers import CLIPTokenizer

    from pipelines.loading.readers import clip_tokenizer

    folder = path.parent / CLIP_TOKENIZER
    if any((folder / name).is_file() for name in ("vocab.json", "tokenizer.json")):
        try:
            return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # any failure means a broken tokenizer folder
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(folder, f"The CLIP tokenizer could not be read ({detail}).",
                                 hint="") from None
    return clip_tokenizer()


def load_flux_text_encoders(paths: list[Path], family: str = "flux_dev") -> TextEncoder:
    """CLIP-L + T5 from two files in either order (ComfyUI's DualCLIPLoader, type flux).

    Raises:
        ModelLoadError: not exactly one CLIP and one T5 file, or a broken one.
    """
    from pipelines.families import get_family
    from pipelines.loading.readers import read_state_dict
    from pipelines.loading.t5_tokenizer import t5_tokenizer

    found: dict[str, tuple[Path, dict[str, torch.Tensor]]] = {}
    for path in map(Path, paths):
        state, _ = read_state_dict(path)
        kind = _kind(state.keys())
        if not kind:
            raise ModelLoadError(path, "Not a CLIP or T5 text encoder file.", hint="")
        if kind in found:
            raise ModelLoadError(path, f"Flux takes one CLIP-L and one T5 file; this is a second "
                                 f"{kind.upper()} file.", hint="")
        found[kind] = (path, state)
    for kind in ("clip", "t5"):
        if kind not in found:
            names = ", ".join(Path(p).name for p in paths)
            raise ModelLoadError(Path(paths[0]), f"Flux needs a CLIP-L and a T5 text encoder "
                                 f"file; {names} has no {kind.upper()}.", hint="")
    clip_path, clip_state = found["clip"]
    t5_path, t5_state = found["t5"]
    length = int(getattr(get_family(family), "t5_max_length", 512))
    return TextEncoder(
        tokenizer=clip_tokenizer_near(clip_path), text_encoder=build_clip(clip_state, clip_path),
        source=f"{clip_path} + {t5_path}", tokenizer_2=t5_tokenizer(t5_path.parent, length),
        text_encoder_2=build_t5(t5_state, t5_path), family=family)


# --- the VAE ---------------------------------------------------------------------------------
