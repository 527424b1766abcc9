"""SD 1.x and SDXL text encoders from separate CLIP files (ComfyUI's CLIPLoader type
"stable_diffusion" with a ``clip_l.safetensors``, DualCLIPLoader type "sdxl" with
``clip_l`` + ``clip_g``): Hugging Face-layout tensors under any prefix, sizes read from them,
the rest from the family's shipped configs (CLIP-L: quick GELU, no projection; CLIP-G: GELU with
its text projection). The tokenizers are the CLIP tokenizer we ship (or a ``clip_tokenizer``
folder next to the file), padded as each family's (SDXL's second with "!")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.text_files import build_clip, clip_width, stored_dtype, text_file_kind
from pipelines.values import TextEncoder


def _read(paths: list[Path], what: str) -> list[tuple[Path, dict[str, torch.Tensor]]]:
    from pipelines.loading.readers import read_state_dict

    found = []
    for path in map(Path, paths):
        state, _ = read_state_dict(path)
        if text_file_kind(state.keys()) != "clip":
            raise ModelLoadError(path, f"Not a CLIP text encoder file ({what} takes CLIP files "
                                 "in the Hugging Face layout: text_model.*).", hint="")
        found.append((path, state))
    return found


def _tokenizer(path: Path, pad: str) -> Any:
    from pipelines.loading.flux_text import clip_tokenizer_near
    from pipelines.loading.readers import clip_tokenizer

    near = path.parent / "clip_tokenizer"
    return clip_tokenizer_near(path) if near.is_dir() else clip_tokenizer(pad)


def load_sd1_text_encoder(paths: list[Path]) -> TextEncoder:
    """SD 1.x's CLIP-L from one file (CLIPLoader type stable_diffusion).

    Raises:
        ModelLoadError: not one CLIP file, or a broken one.
    """
    from pipelines.loading.readers import CONFIGS

    if len(paths) != 1:
        raise ModelLoadError(Path(paths[0]), f"SD 1.x takes one CLIP-L file, not {len(paths)}.",
                             hint="")
    ((path, state),) = _read(paths, "SD 1.x")
    encoder = build_clip(state, path, CONFIGS / "sd1" / "text_encoder", projection=False,
                         dtype=stored_dtype(state))
    return TextEncoder(tokenizer=_tokenizer(path, "<|endoftext|>"), text_encoder=encoder,
                       source=str(path), family="sd1")


def load_sdxl_text_encoders(paths: list[Path]) -> TextEncoder:
    """SDXL's CLIP-L + CLIP-G from two files in either order (DualCLIPLoader type sdxl): the
    narrower is CLIP-L, the wider CLIP-G (768 and 1280 wide in the real files).

    Raises:
        ModelLoadError: not two CLIP files of different widths, or a broken one.
    """
    from pipelines.loading.readers import CONFIGS

    if len(paths) != 2:
        raise ModelLoadError(Path(paths[0]), "SDXL takes two CLIP files (clip_l and clip_g), "
                             f"not {len(paths)}.", hint="")
    (l_path, l_state), (g_path, g_state) = sorted(
        _read(paths, "SDXL"), key=lambda item: clip_width(item[1]))
    if clip_width(l_state) == clip_width(g_state):
        raise ModelLoadError(g_path, "SDXL takes a CLIP-L and a CLIP-G file; both files are "
                             f"{clip_width(g_state)} wide.", hint="")
    clip_l = build_clip(l_state, l_path, CONFIGS / "sdxl" / "text_encoder", projection=False,
                        dtype=stored_dtype(l_state))
    clip_g = build_clip(g_state, g_path, CONFIGS / "sdxl" / "text_encoder_2", projection=True,
                        dtype=stored_dtype(g_state))
    return TextEncoder(tokenizer=_tokenizer(l_path, "<|endoftext|>"), text_encoder=clip_l,
                       source=f"{l_path} + {g_path}", tokenizer_2=_tokenizer(g_path, "!"),
                       text_encoder_2=clip_g, family="sdxl")
