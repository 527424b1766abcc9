"""Diffusers SD3 weights -> the original (Stability / ComfyUI) layout: the transformer as
``joint_blocks.*`` (fused qkv, the last context block's adaLN scale/shift swapped back), the
text encoders under ``text_encoders.clip_l/clip_g/t5xxl.transformer.`` and the VAE under
``first_stage_model.``. The exact inverse of diffusers' single-file converters; used to make
test files and by ``pipeline_to_sd3_files`` for tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.loading.convert import vae_to_original

TEXT_PREFIXES = {"clip_l": "text_encoders.clip_l.transformer.",
                 "clip_g": "text_encoders.clip_g.transformer.",
                 "t5xxl": "text_encoders.t5xxl.transformer."}
DENOISER_PREFIX = "model.diffusion_model."

_TOP = {
    "pos_embed.pos_embed": "pos_embed",
    "pos_embed.proj.": "x_embedder.proj.",
    "time_text_embed.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
    "time_text_embed.timestep_embedder.linear_2.": "t_embedder.mlp.2.",
    "time_text_embed.text_embedder.linear_1.": "y_embedder.mlp.0.",
    "time_text_embed.text_embedder.linear_2.": "y_embedder.mlp.2.",
    "context_embedder.": "context_embedder.",
    "proj_out.": "final_layer.linear.",
}
_BLOCK = {  # inside transformer_blocks.{i}. -> joint_blocks.{i}.
    "attn.norm_q.": "x_block.attn.ln_q.", "attn.norm_k.": "x_block.attn.ln_k.",
    "attn.norm_added_q.": "context_block.attn.ln_q.",
    "attn.norm_added_k.": "context_block.attn.ln_k.",
    "attn.to_out.0.": "x_block.attn.proj.", "attn.to_add_out.": "context_block.attn.proj.",
    "attn2.norm_q.": "x_block.attn2.ln_q.", "attn2.norm_k.": "x_block.attn2.ln_k.",
    "attn2.to_out.0.": "x_block.attn2.proj.",
    "norm1.linear.": "x_block.adaLN_modulation.1.",
    "norm1_context.linear.": "context_block.adaLN_modulation.1.",
    "ff.net.0.proj.": "x_block.mlp.fc1.", "ff.net.2.": "x_block.mlp.fc2.",
    "ff_context.net.0.proj.": "context_block.mlp.fc1.",
    "ff_context.net.2.": "context_block.mlp.fc2.",
}
_QKV = {"attn.to_": "x_block.attn.qkv.", "attn.add_": "context_block.attn.qkv.",
        "attn2.to_": "x_block.attn2.qkv."}


def _swap(weight: torch.Tensor) -> torch.Tensor:
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _rename(name: str, table: dict[str, str]) -> str | None:
    return next((new + name[len(old):] for old, new in table.items() if name.startswith(old)),
                None)


def transformer_to_original(state: dict[str, torch.Tensor],
                            prefix: str = DENOISER_PREFIX) -> dict[str, torch.Tensor]:
    """``SD3Transformer2DModel`` weights -> ``<prefix>joint_blocks.*`` etc.

    Raises:
        ValueError: a weight this layout has no place for.
    """
    last = max(int(k.split(".")[1]) for k in state if k.startswith("transformer_blocks."))
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("norm_out.linear."):
            out[prefix + "final_layer.adaLN_modulation.1." + key.rsplit(".", 1)[1]] = _swap(value)
            continue
        if not key.startswith("transformer_blocks."):
            name = _rename(key, _TOP)
            if name is None:
                raise ValueError(f"no original-layout name for {key!r}")
            out[prefix + name] = value
            continue
        _, index, rest = key.split(".", 2)
        block = f"{prefix}joint_blocks.{index}."
        qkv = next(((old, new) for old, new in _QKV.items() if rest.startswith(old)
                    and rest[len(old):].split(".")[0] in ("q", "k", "v", "q_proj", "k_proj",
                                                          "v_proj")), None)
        if qkv is not None:
            old, new = qkv
            kind = rest.rsplit(".", 1)[1]  # weight | bias
            if rest[len(old):].split(".")[0] in ("q", "q_proj"):
                parts = [state[f"transformer_blocks.{index}.{old}{p}.{kind}"]
                         for p in (("q", "k", "v") if old != "attn.add_" else
                                   ("q_proj", "k_proj", "v_proj"))]
                out[block + new + kind] = torch.cat(parts, dim=0)
            continue
        name = _rename(rest, _BLOCK)
        if name is None:
            raise ValueError(f"no original-layout name for {key!r}")
        if int(index) == last and rest.startswith("norm1_context."):
            value = _swap(value)
        out[block + name] = value
    return out


def _module_state(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in module.state_dict().items()}


def text_to_original(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A Hugging Face CLIP (with projection) or T5 encoder's weights under ``prefix``, in the
    ``text_model.*`` form the files use (transformers 5 may drop that wrapper)."""
    out = {}
    for key, value in state.items():
        clip_body = not key.startswith(("text_projection", "text_model.", "encoder.", "shared."))
        out[prefix + ("text_model." + key if clip_body else key)] = value
    return out


def pipeline_to_sd3_files(folder: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The tensors of a diffusers SD3 folder as files in the original layouts: "all_in_one"
    (an SD3 ``*_incl_clips_t5xxl`` checkpoint), "transformer" (ComfyUI's diffusion_models file),
    and "clip_l", "clip_g", "t5xxl" (ComfyUI's text_encoders files)."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel
    from transformers import CLIPTextModelWithProjection, T5EncoderModel

    folder = Path(folder)
    transformer = SD3Transformer2DModel.from_pretrained(str(folder / "transformer"))
    vae = AutoencoderKL.from_pretrained(str(folder / "vae"))
    texts = {"clip_l": CLIPTextModelWithProjection.from_pretrained(str(folder / "text_encoder")),
             "clip_g": CLIPTextModelWithProjection.from_pretrained(str(folder / "text_encoder_2")),
             "t5xxl": T5EncoderModel.from_pretrained(str(folder / "text_encoder_3"))}
    files: dict[str, dict[str, torch.Tensor]] = {
        "transformer": transformer_to_original(_module_state(transformer), prefix=""),
    }
    everything = transformer_to_original(_module_state(transformer))
    everything.update(vae_to_original(_module_state(vae)))
    for name, encoder in texts.items():
        state = _module_state(encoder)
        files[name] = text_to_original(state, "")
        everything.update(text_to_original(state, TEXT_PREFIXES[name]))
    files["all_in_one"] = everything
    return files
