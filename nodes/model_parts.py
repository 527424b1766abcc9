"""Loaders of a model's parts as ComfyUI users keep them: the denoiser alone (Load Diffusion
Model, ComfyUI's UNETLoader) and the text encoders as separate files (Load Text Encoders,
ComfyUI's CLIPLoader / DualCLIPLoader / TripleCLIPLoader). Which family reads a file comes
from its header; the VAE comes from Load VAE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Choice, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import CLIP, MODEL
from nodes._models import load_settings, model_fingerprint, resolve_model
from pipelines.catalog import WEIGHT_DTYPE_NAMES
from pipelines.families import text_file_types

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel, TextEncoder

_TEXT_FIELDS = ("clip_name1", "clip_name2", "clip_name3")
_DEFAULT_TYPE = "sd3" if "sd3" in text_file_types() else text_file_types()[0]


@node(
    "loaders.diffusion_model",
    title="Load Diffusion Model",
    category="loaders",
    description="Load a denoiser alone (an SD3 / 3.5 or Flux transformer file from the "
    "diffusion_models or unet folder); its text encoders come from Load Text Encoders and "
    "its VAE from Load VAE.",
    inputs=[
        String("unet_name", "", kind="model:diffusion_models",
               description="Transformer file (.safetensors) in the diffusion_models folder."),
        Choice("weight_dtype", "default", choices=WEIGHT_DTYPE_NAMES,
               description="default: the file's own dtype (float32 on the CPU, or the run's "
               "precision when set); fp8_*: weights kept in 8 bits and computed in bfloat16 "
               "(half the memory of bf16); or a cast on load."),
    ],
    outputs=[Output("model", MODEL, "The denoising network and its noise schedule.")],
    fingerprint=model_fingerprint("unet_name", "diffusion_models"),
)
def load_diffusion_model(ctx: NodeContext, unet_name: str, weight_dtype: str) -> DiffusionModel:
    from pipelines.loading.model_parts import load_diffusion_model_cached

    settings = load_settings(ctx)
    return load_diffusion_model_cached(
        resolve_model(unet_name, "diffusion_models"), weight_dtype, device=settings["device"],
        precision=settings["precision"], vram_mode=settings["vram_mode"])


def _fingerprint(values: dict[str, Any]) -> Any:
    return [model_fingerprint(f, "text_encoders")(values) for f in _TEXT_FIELDS
            if values.get(f)]


@node(
    "loaders.text_encoders",
    title="Load Text Encoders",
    category="loaders",
    description="Load a model's text encoders from separate files in the text_encoders (or "
    "clip) folder, in any order: SD3 takes clip_l + clip_g (+ t5xxl), Flux clip_l + t5xxl "
    "(type flux: T5 padded to dev's 512 tokens; flux_schnell: schnell's 256), SDXL clip_l + "
    "clip_g, SD 1.x (type sd1) one clip_l.",
    inputs=[
        String("clip_name1", "", kind="model:text_encoders", description="A text encoder file."),
        String("clip_name2", "", kind="model:text_encoders",
               description="A second file (empty: none)."),
        String("clip_name3", "", kind="model:text_encoders",
               description="A third file (empty: none)."),
        Choice("type", _DEFAULT_TYPE, choices=text_file_types(),
               description="The model family the encoders are for."),
    ],
    outputs=[Output("clip", CLIP, "The text encoders with their tokenizers.")],
    fingerprint=_fingerprint,
)
def load_text_encoders(ctx: NodeContext, clip_name1: str, clip_name2: str, clip_name3: str,
                       type: str) -> TextEncoder:  # noqa: A002 (ComfyUI's field name)
    from pipelines.loading.model_parts import load_text_encoders_cached

    names = {f: n for f, n in zip(_TEXT_FIELDS, (clip_name1, clip_name2, clip_name3),
                                  strict=True) if n.strip()}
    if not names:
        raise NodeInputError("clip_name1", "choose at least one text encoder file")
    paths = [resolve_model(n, "text_encoders") for n in names.values()]
    settings = load_settings(ctx)
    return load_text_encoders_cached(paths, type, device=settings["device"],
                                     precision=settings["precision"],
                                     vram_mode=settings["vram_mode"])
