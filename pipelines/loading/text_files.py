"""Text encoders from the files users have (ComfyUI's clip_l / clip_g / t5xxl files, or the
``text_encoders.*`` part of an all-in-one checkpoint): CLIP and T5 built from Hugging Face-layout
tensors, every size read from them. Shared by the SD3 and Flux readers (``sd3_files``,
``flux_text``); fp8-stored files compute in bfloat16."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

CLIP_KEY = "encoder.layers.0.mlp.fc1.weight"
T5_KEY = "encoder.block.0.layer.0.SelfAttention.q.weight"
FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)


def _count(state: dict[str, Any], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := regex.match(k))}
    return max(found) + 1 if found else 0


def stored_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    """The float dtype most weights are stored in; fp8 (and anything else) computes in
    bfloat16."""
    counts: dict[torch.dtype, int] = {}
    for tensor in state.values():
        counts[tensor.dtype] = counts.get(tensor.dtype, 0) + tensor.numel()
    stored = max(counts, key=counts.__getitem__) if counts else torch.float32
    return stored if stored in (torch.float32, torch.float16, torch.bfloat16) else torch.bfloat16


def text_file_kind(keys: Any) -> str:
    """"clip" (CLIP text, HF layout), "t5" (T5 encoder) or "" from a file's tensor names."""
    if any(k.endswith(T5_KEY) for k in keys):
        return "t5"
    if any(k.endswith(CLIP_KEY) for k in keys):
        return "clip"
    return ""


def clip_width(state: dict[str, torch.Tensor]) -> int:
    key = next(k for k in state if k.endswith("embeddings.token_embedding.weight"))
    return int(state[key].shape[1])


def build_clip(state: dict[str, torch.Tensor], path: Path, template: Path, projection: bool,
               dtype: torch.dtype | None = None, supported: str = "", place: Any = None) -> Any:
    """A CLIP text encoder from HF-layout weights under any prefix (``text_model.*`` or
    without it, ``text_encoders.clip_l.*``): ``CLIPTextModelWithProjection`` if
    ``projection`` (a missing ``text_projection`` is the identity, as ComfyUI takes it), else
    ``CLIPTextModel``; sizes from the tensors, the rest from ``template`` (a config folder).
    ``place``: (device, dtype) each weight goes to (``single_file._fill``), with ``dtype`` None.

    Raises:
        ModelLoadError: not a CLIP text encoder, or an incomplete one.
    """
    import transformers

    from pipelines.loading.readers import read_json
    from pipelines.loading.single_file import _empty, _fill, text_config

    prefix = next((k[: -len(CLIP_KEY)] for k in state if k.endswith(CLIP_KEY)), None)
    if prefix is None:
        raise ModelLoadError(path, f"Not a CLIP text encoder (no {CLIP_KEY!r}). {supported}",
                             hint="")
    outer = prefix.removesuffix("text_model.")
    body = {k[len(outer):]: v for k, v in state.items() if k.startswith(outer)}
    body = {(k if k.startswith(("text_model.", "text_projection")) else "text_model." + k): v
            for k, v in body.items()}
    try:
        config = text_config(body, read_json(template / "config.json"), open_clip=False,
                             drop_last=False)
    except KeyError as exc:
        raise ModelLoadError(path, f"Not a CLIP text encoder (no {exc.args[0]!r}). {supported}",
                             hint="") from None
    keep = {k: v for k, v in config.items() if k not in {"torch_dtype", "dtype", "_name_or_path"}}
    cls = transformers.CLIPTextModel
    if projection:
        weight = body.setdefault("text_projection.weight", torch.eye(int(config["hidden_size"])))
        keep["projection_dim"] = int(weight.shape[0])
        cls = transformers.CLIPTextModelWithProjection
    else:
        body.pop("text_projection.weight", None)
    model = _empty(lambda: cls(transformers.CLIPTextConfig.from_dict(keep)))
    if not hasattr(model, "text_model"):  # transformers 5 may flatten the wrapper
        body = {k.removeprefix("text_model."): v for k, v in body.items()}
    model = _fill(model, body, "text encoder", path, place)
    return model if dtype is None else model.to(dtype)


def t5_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A ``T5Config``'s keywords from encoder weights (no prefix)."""
    attention = "encoder.block.0.layer.0.SelfAttention."
    bias = state[attention + "relative_attention_bias.weight"]  # [buckets, heads]
    heads, buckets = int(bias.shape[1]), int(bias.shape[0])
    vocab, d_model = state["shared.weight"].shape
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state
    wi = "wi_0" if gated else "wi"
    return dict(
        vocab_size=int(vocab), d_model=int(d_model), num_heads=heads,
        d_kv=int(state[T5_KEY].shape[0]) // heads,
        d_ff=int(state[f"encoder.block.0.layer.1.DenseReluDense.{wi}.weight"].shape[0]),
        num_layers=_count(state, r"encoder\.block\.(\d+)\."),
        relative_attention_num_buckets=buckets,
        feed_forward_proj="gated-gelu" if gated else "relu", is_encoder_decoder=False,
        use_cache=False, dropout_rate=0.0)


def build_t5(state: dict[str, torch.Tensor], path: Path, dtype: torch.dtype | None = None,
             supported: str = "") -> Any:
    """A ``T5EncoderModel`` from encoder weights under any prefix (ComfyUI's
    ``t5xxl_*.safetensors``, ``text_encoders.t5xxl.transformer.*``), in ``dtype`` (default:
    the stored one; fp8 computes in bfloat16). Weights are copied once, never through float32.

    Raises:
        ModelLoadError: not a T5 encoder, or an incomplete one.
    """
    from accelerate import init_empty_weights
    from transformers import T5Config, T5EncoderModel

    prefix = next((k[: -len(T5_KEY)] for k in state if k.endswith(T5_KEY)), None)
    if prefix is None:
        raise ModelLoadError(path, f"Not a T5 encoder (no {T5_KEY!r}). {supported}", hint="")
    body = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    shared = body.get("shared.weight", body.get("encoder.embed_tokens.weight"))
    if shared is not None:
        body.setdefault("shared.weight", shared)
        body.setdefault("encoder.embed_tokens.weight", shared)
    try:
        config = T5Config(**t5_config(body))
    except KeyError as exc:
        raise ModelLoadError(path, f"Not a complete T5 encoder (no {exc.args[0]!r} tensor). "
                             f"{supported}", hint="") from None
    target = dtype or stored_dtype(body)
    with init_empty_weights():
        model = T5EncoderModel(config)
    expected = model.state_dict()
    missing = [k for k in expected if k not in body]
    if missing:
        raise ModelLoadError(path, f"The T5 weights are incomplete ({len(missing)} missing, "
                             f"e.g. '{missing[0]}').", hint="")
    model.load_state_dict({k: body[k].to(target, copy=True) for k in expected}, strict=True,
                          assign=True)
    model.tie_weights()
    return model.eval().requires_grad_(False)
