"""Control nodes: load a ControlNet, ControlNet-Union or T2I-Adapter (a "diff" ControlNet with
the model it is relative to), tell a Union net its control type, and apply it with a hint image
to a positive/negative conditioning pair (ComfyUI's ControlNetLoader, DiffControlNetLoader,
SetUnionControlNetType, ControlNetApplyAdvanced). Applying several stacks them
(multi-ControlNet); the Sampler runs them every step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Boolean, Choice, Float, Link, Output, String, node
from node_api.ports import CONDITIONING, CONTROL_NET, IMAGE, MASK, MODEL, VAE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, ControlNet, DiffusionModel, Vae

# ComfyUI's UNION_CONTROLNET_TYPES (xinsir's ControlNet++ task order)
UNION_TYPES = ("openpose", "depth", "hed/pidi/scribble/ted", "canny/lineart/anime_lineart/mlsd",
               "normal", "segment", "tile", "repaint")


def _start_before_end(values: dict) -> list[tuple[str, str]]:
    if values["start_percent"] > values["end_percent"]:
        return [("end_percent", f"end ({values['end_percent']}) is before start "
                                f"({values['start_percent']})")]
    return []


@node(
    "loaders.controlnet",
    title="Load ControlNet",
    category="loaders",
    description="Load a ControlNet (SD 1.x, SD 2.x, SDXL, SD3/3.5, Flux) or a T2I-Adapter "
    "from the controlnet folder: a diffusers folder (config.json), a diffusers-layout "
    ".safetensors, an original control_*.pth/.safetensors file, XLabs or Stability SD3.5 "
    "files, a ControlNet-Union (then Set Union ControlNet Type). \"diff\" ControlNets need "
    "Load Diff ControlNet.",
    inputs=[String("control_net", "", kind="model:controlnet",
                   description="Name in the controlnet folder, or a path.")],
    outputs=[Output("control_net", CONTROL_NET, "The ControlNet or T2I-Adapter.")],
    fingerprint=model_fingerprint("control_net", "controlnet"),
)
def load_controlnet(ctx: NodeContext, control_net: str) -> ControlNet:
    return _load(ctx, control_net, None)


def _load(ctx: NodeContext, name: str, model: DiffusionModel | None) -> ControlNet:
    from pipelines.loading.cached import load_controlnet_cached

    settings = load_settings(ctx)
    base = None if model is None else getattr(model.denoiser, "original", model.denoiser)
    return load_controlnet_cached(resolve_model(name, "controlnet"), device=settings["device"],
                                  precision=settings["precision"],
                                  vram_mode=settings["vram_mode"], base=base)


@node(
    "loaders.diff_controlnet",
    title="Load Diff ControlNet",
    category="loaders",
    description="Load a \"diff\" ControlNet (its weights stored as a difference to a base "
    "model, as kohya's control_*_diff files): the model's UNet weights are added to it. Plain "
    "ControlNets load here too, the model unused.",
    inputs=[Link("model", MODEL, "The model the diff ControlNet was made for."),
            String("control_net", "", kind="model:controlnet",
                   description="Name in the controlnet folder, or a path.")],
    outputs=[Output("control_net", CONTROL_NET, "The ControlNet.")],
    fingerprint=model_fingerprint("control_net", "controlnet"),
)
def load_diff_controlnet(ctx: NodeContext, model: DiffusionModel, control_net: str) -> ControlNet:
    return _load(ctx, control_net, model)


@node(
    "conditioning.union_controlnet_type",
    title="Set Union ControlNet Type",
    category="conditioning",
    description="Tell a ControlNet-Union (xinsir's ControlNet++ for SDXL, InstantX's for Flux) "
    "what kind of hint it gets. A Flux Union net takes the type's number as its mode, as "
    "ComfyUI (InstantX: 0 canny, 1 tile, 2 depth, 3 blur, 4 pose, 5 gray, 6 low quality). "
    "Returns a copy; the loaded network is shared.",
    inputs=[Link("control_net", CONTROL_NET),
            Choice("type", "auto", choices=("auto", *UNION_TYPES),
                   description="The kind of hint image (ComfyUI's union types); \"auto\" "
                   "leaves it unset: the net reads the hint without a type, as ComfyUI.")],
    outputs=[Output("control_net", CONTROL_NET)],
)
def set_union_controlnet_type(ctx: NodeContext, control_net: ControlNet, type: str) -> ControlNet:
    import dataclasses

    from node_api.errors import NodeInputError

    if type == "auto":  # as ComfyUI: any ControlNet passes, its type unset
        return dataclasses.replace(control_net, union_type=None)
    from pipelines.sampling.transformer_control import union_modes

    kinds = union_modes(control_net)  # SDXL (xinsir) or Flux (InstantX) Union nets
    if not kinds:
        raise NodeInputError("control_net", f"{control_net.source} is not a ControlNet-Union")
    index = UNION_TYPES.index(type)
    if index >= kinds:
        raise NodeInputError("type", f"this ControlNet-Union knows {kinds} types; "
                                     f"{type!r} is not one of them")
    return dataclasses.replace(control_net, union_type=index)


@node(
    "conditioning.apply_controlnet",
    title="Apply ControlNet",
    category="conditioning",
    description="Steer sampling with a hint image (edges, depth, pose...) through a "
    "ControlNet or T2I-Adapter, on both the positive and the negative conditioning. Chain "
    "several to combine them. The hint is resized to the image size of the latent.",
    inputs=[
        Link("positive", CONDITIONING),
        Link("negative", CONDITIONING, "Optional: without it only the positive is steered.",
             optional=True),
        Link("control_net", CONTROL_NET),
        Link("image", IMAGE, "The hint image (e.g. a Canny edge map), values 0..1."),
        Link("vae", VAE, "The model's VAE: SD3 and Flux ControlNets read the hint as "
             "latents (unused for SD/SDXL ControlNets).", optional=True),
        Link("mask", MASK, "Optional: where the control acts (1) and where not (0).",
             optional=True),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.05,
              description="Scale of the control residuals; 0 turns the control off."),
        Float("start_percent", 0.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the steps before the control starts."),
        Float("end_percent", 1.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the steps after which the control stops."),
        Boolean("guess_mode", False,
                description="Soft weights (diffusers' guess mode): residuals from 0.1x at the "
                "first block to 1x at the middle, on the positive only; works without a "
                "prompt. Not for T2I-Adapters."),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)],
    check=_start_before_end,
)
def apply_controlnet(
    ctx: NodeContext, positive: Conditioning, negative: Conditioning | None,
    control_net: ControlNet, image: Tensor, vae: Vae | None, mask: Tensor | None,
    strength: float, start_percent: float, end_percent: float, guess_mode: bool,
) -> tuple[Conditioning, Conditioning]:
    from pipelines.sampling.control import apply_control
    from pipelines.sampling.transformer_control import needs_vae

    if vae is None and needs_vae(control_net):
        from node_api.errors import NodeInputError

        raise NodeInputError("vae", f"{control_net.source} reads its hint as latents: connect "
                                    "the model's VAE")
    return apply_control(positive, negative, control_net, image, strength, start_percent,
                         end_percent, mask, guess_mode, vae)
