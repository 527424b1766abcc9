"""OpenCLIP / OpenAI CLIP vision towers (``visual.*``: ``conv1``, ``class_embedding``,
``transformer.resblocks.N`` with fused q/k/v ``in_proj``, ``ln_pre``/``ln_post``, ``proj``) ->
the Hugging Face ``CLIPVisionModelWithProjection`` names, as tensors only (no code runs).

They come inside SD 2.1 unCLIP single files (``embedder.model.visual.``: OpenCLIP ViT-H for
``sd21-unclip-h``, OpenAI ViT-L for ``-l``) and as OpenCLIP's own files (``visual.``). Both
libraries share this layout; the renaming is the one transformers' conversion scripts make.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

# where a vision tower sits in the files we read, most specific first
VISION_PREFIXES = ("embedder.model.visual.", "visual.")
_MARKER = "transformer.resblocks.0.attn.in_proj_weight"
_TOP = {"conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "class_embedding": "vision_model.embeddings.class_embedding",
        "positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "ln_pre.weight": "vision_model.pre_layrnorm.weight",  # (transformers' spelling)
        "ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "ln_post.weight": "vision_model.post_layernorm.weight",
        "ln_post.bias": "vision_model.post_layernorm.bias"}
_LAYER = (("attn.out_proj.", "self_attn.out_proj."), ("ln_1.", "layer_norm1."),
          ("ln_2.", "layer_norm2."), ("mlp.c_fc.", "mlp.fc1."), ("mlp.c_proj.", "mlp.fc2."))


def vision_prefix(keys: Iterable[str]) -> str | None:
    """The prefix of an OpenCLIP-layout vision tower among ``keys`` ("" for a bare one), or None."""
    names = set(keys)
    for prefix in (*VISION_PREFIXES, ""):
        if prefix + _MARKER in names and prefix + "conv1.weight" in names:
            return prefix
    return None


def read_vision_tower(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """Only the tensors under ``prefix`` of a file (a .safetensors file is read lazily, so a
    5 GB checkpoint costs only its vision tower); pickles through the weights-only reader."""
    from pipelines.loading.readers import read_state_dict

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        from pipelines.errors import ModelLoadError

        try:
            with safe_open(str(path), framework="pt") as handle:
                return {k: handle.get_tensor(k) for k in handle.keys()  # noqa: SIM118
                        if k.startswith(prefix)}
        except Exception as exc:  # safetensors raises its own error types
            raise ModelLoadError(path, f"Not a readable .safetensors file ({exc}).") from None
    state, _ = read_state_dict(path)
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def to_transformers(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The vision tower under ``prefix`` renamed for ``CLIPVisionModelWithProjection``.

    Raises:
        KeyError: a tensor of the layout is missing.
    """
    tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    out = {new: tower[old] for old, new in _TOP.items()}
    out["visual_projection.weight"] = tower["proj"].T.contiguous()  # [width, dim] -> [dim, width]
    layers = {int(k.split(".")[2]) for k in tower if k.startswith("transformer.resblocks.")}
    for i in sorted(layers):
        src, dst = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for kind in ("weight", "bias"):
            for name, part in zip("qkv", tower[f"{src}attn.in_proj_{kind}"].chunk(3), strict=True):
                out[f"{dst}self_attn.{name}_proj.{kind}"] = part.contiguous()
        for key, value in tower.items():
            if key.startswith(src) and ".in_proj_" not in key:
                rest = key[len(src):]
                for old, new in _LAYER:
                    rest = rest.replace(old, new)
                out[dst + rest] = value
    return out
