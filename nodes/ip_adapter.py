"""IP-Adapter nodes: an image as a prompt. Load the adapter file, then apply it to a model with
a CLIP vision encoder and reference image(s); the Sampler then steers by the images as well as
the text. The loaded model itself is never changed (see ``pipelines.sampling.ip_adapter``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Link, Output, String, node
from node_api.ports import CLIP_VISION, IMAGE, IP_ADAPTER, MASK, MODEL
from nodes._models import load_float32, model_fingerprint
from pipelines.loading.ip_adapter_presets import PRESETS
from pipelines.sampling.ip_adapter_weights import COMBINE, EMBEDS_SCALING, WEIGHT_TYPES

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import ClipVision, DiffusionModel, IPAdapterWeights


@node(
    "loaders.ip_adapter",
    title="Load IP-Adapter",
    category="loaders",
    description="Load an IP-Adapter file (ip-adapter_sd15, ip-adapter-plus_sdxl_vit-h, ...: "
    ".safetensors or .bin) from the ipadapter folder. Plain, plus and full-face adapters work "
    "with SD 1.x and SDXL models; pair it with the CLIP vision model it was trained with.",
    inputs=[String("ipadapter", "", kind="model:ipadapter",
                   description="IP-Adapter file in the ipadapter folder, or a path.")],
    outputs=[Output("ipadapter", IP_ADAPTER, "The adapter's weights, ready to apply.")],
    fingerprint=model_fingerprint("ipadapter", "ipadapter"),
)
def load_ip_adapter(ctx: NodeContext, ipadapter: str) -> IPAdapterWeights:
    from pipelines.loading.cached import load_ip_adapter_cached

    return load_float32(ctx, load_ip_adapter_cached, ipadapter, "ipadapter")


@node(
    "conditioning.apply_ip_adapter",
    title="Apply IP-Adapter",
    category="conditioning",
    description="Use image(s) as a prompt: the model's cross-attention also attends to the "
    "adapter's tokens of the images' CLIP embeddings, with this weight, during [start_at, "
    "end_at] of the schedule. Several images are one prompt; chain nodes to stack adapters.",
    inputs=[
        Link("model", MODEL),
        Link("ipadapter", IP_ADAPTER),
        Link("clip_vision", CLIP_VISION),
        Link("image", IMAGE, description="The reference image(s)."),
        Float("weight", 1.0, min=-1.0, max=5.0, step=0.05,
              description="How strongly the images steer (0: not at all)."),
        Float("start_at", 0.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the schedule where the adapter starts acting."),
        Float("end_at", 1.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the schedule where it stops acting."),
        Choice("weight_type", "linear", choices=WEIGHT_TYPES,
               description="How the weight spreads over the UNet's layers (IPAdapter_plus's "
               "types: eased, weak/strong blocks, style transfer / composition layers; the "
               "precise ones also steer away from the other layers' reading of the image)."),
        Choice("combine_embeds", "concat", choices=COMBINE,
               description="Several images: one longer prompt (concat) or one merged image "
               "embedding."),
        Link("attn_mask", MASK, "Optional: where in the image the adapter acts (1).",
             optional=True),
        Choice("embeds_scaling", "V only", choices=EMBEDS_SCALING,
               description="Where the weight acts: on the attention output (V only), on the "
               "keys and values (K+V), scaled down in narrow layers (C penalty), or on the "
               "values' mean (K+mean(V)), as IPAdapter_plus."),
        Float("weight_composition", 1.0, min=-1.0, max=5.0, step=0.05,
              description="The composition layers' weight of the \"style and composition\" "
              "weight types."),
        Link("image_composition", IMAGE, "Optional, SDXL: a second image whose composition "
             "the \"style and composition\" types take (the first one gives the style).",
             optional=True),
    ],
    outputs=[Output("model", MODEL, "The model with the adapter (the input is unchanged).")],
)
def apply_ip_adapter(ctx: NodeContext, model: DiffusionModel, ipadapter: IPAdapterWeights,
                     clip_vision: ClipVision, image: Tensor, weight: float, start_at: float,
                     end_at: float, weight_type: str, combine_embeds: str,
                     attn_mask: Tensor | None, embeds_scaling: str, weight_composition: float,
                     image_composition: Tensor | None) -> DiffusionModel:
    from node_api.errors import NodeInputError
    from nodes._models import on_device
    from pipelines.sampling.ip_adapter import apply_ip_adapter as apply
    from pipelines.sampling.ip_adapter import encode_for_adapter, with_adapter_use

    if end_at < start_at:
        raise NodeInputError("end_at", f"end_at ({end_at:g}) is before start_at ({start_at:g})")
    if not hasattr(model.denoiser, "_convert_ip_adapter_attn_to_diffusers"):
        raise NodeInputError("model", "IP-Adapter works with UNet models (SD 1.x, SDXL) only")
    ctx.check_cancelled()
    with on_device(ctx, clip_vision):
        embeds = encode_for_adapter(clip_vision, ipadapter, image, device=ctx.device)
        composition = None if image_composition is None else encode_for_adapter(
            clip_vision, ipadapter, image_composition, device=ctx.device)
    try:
        use = with_adapter_use(ipadapter, embeds, weight, start_at, end_at, weight_type,
                               combine_embeds, attn_mask, embeds_scaling, weight_composition,
                               composition)
    except ValueError as exc:
        message = str(exc)
        field = next((f for f in ("embeds_scaling", "combine_embeds") if message.startswith(f)),
                     "image_composition" if "composition image" in message else "weight_type")
        raise NodeInputError(field, message) from None
    try:
        return apply(model, use)
    except ValueError as exc:
        raise NodeInputError("ipadapter", str(exc)) from None


def _folder_listing(values: dict) -> list:
    """Cache-key material: which files the preset may pick from."""
    from nodes._models import list_models

    return [values.get("preset"), list_models("ipadapter"), list_models("clip_vision")]


@node(
    "loaders.ip_adapter_preset",
    title="IP-Adapter Preset Loader",
    category="loaders",
    description="Pick the IP-Adapter and CLIP vision files of a preset from the model folders "
    "by their released names, as ComfyUI_IPAdapter_plus's unified loader does (the SDXL "
    "adapter for SDXL models). The model passes through.",
    inputs=[Link("model", MODEL),
            Choice("preset", PRESETS[1], choices=PRESETS, description="Which adapter.")],
    outputs=[Output("model", MODEL, "The model, unchanged."),
             Output("ipadapter", IP_ADAPTER), Output("clip_vision", CLIP_VISION)],
    fingerprint=_folder_listing,
)
def load_ip_adapter_preset(
    ctx: NodeContext, model: DiffusionModel, preset: str
) -> tuple[DiffusionModel, IPAdapterWeights, ClipVision]:
    from node_api.errors import NodeInputError
    from nodes._models import list_models
    from pipelines.families import get_family
    from pipelines.loading.cached import load_clip_vision_cached, load_ip_adapter_cached
    from pipelines.loading.ip_adapter_presets import PresetError, preset_files

    try:
        adapter, vision = preset_files(preset, get_family(model.family).native_size,
                                       list_models("ipadapter"), list_models("clip_vision"))
    except PresetError as exc:
        raise NodeInputError("preset", str(exc)) from None
    return (model, load_float32(ctx, load_ip_adapter_cached, adapter, "ipadapter"),
            load_float32(ctx, load_clip_vision_cached, vision, "clip_vision"))
