"""Control nodes: load a ControlNet or T2I-Adapter and apply it with a hint image to a
positive/negative conditioning pair (ComfyUI's ControlNetLoader / ControlNetApplyAdvanced).
Applying several stacks them (multi-ControlNet); the Sampler runs them every step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Link, Output, String, node
from node_api.ports import CONDITIONING, CONTROL_NET, IMAGE, MASK, VAE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, ControlNet, Vae


def _start_before_end(values: dict) -> list[tuple[str, str]]:
    if values["start_percent"] > values["end_percent"]:
        return [("end_percent", f"end ({values['end_percent']}) is before start "
                                f"({values['start_percent']})")]
    return []


@node(
    "loaders.controlnet",
    title="Load ControlNet",
    category="loaders",
    description="Load a ControlNet (SD 1.x, SD 2.x, SDXL) or a T2I-Adapter from the "
    "controlnet folder: a diffusers folder (config.json), a diffusers-layout .safetensors, or "
    "an original control_*.pth/.safetensors file. \"diff\" ControlNets are not supported yet.",
    inputs=[String("control_net", "", kind="model:controlnet",
                   description="Name in the controlnet folder, or a path.")],
    outputs=[Output("control_net", CONTROL_NET, "The ControlNet or T2I-Adapter.")],
    fingerprint=model_fingerprint("control_net", "controlnet"),
)
def load_controlnet(ctx: NodeContext, control_net: str) -> ControlNet:
    from pipelines.loading.cached import load_controlnet_cached

    settings = load_settings(ctx)
    return load_controlnet_cached(resolve_model(control_net, "controlnet"),
                                  device=settings["device"], precision=settings["precision"],
                                  vram_mode=settings["vram_mode"])


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
        Link("vae", VAE, "Unused for SD/SDXL ControlNets (ComfyUI compatibility).",
             optional=True),
        Link("mask", MASK, "Optional: where the control acts (1) and where not (0).",
             optional=True),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.05,
              description="Scale of the control residuals; 0 turns the control off."),
        Float("start_percent", 0.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the steps before the control starts."),
        Float("end_percent", 1.0, min=0.0, max=1.0, step=0.01,
              description="Fraction of the steps after which the control stops."),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)],
    check=_start_before_end,
)
def apply_controlnet(
    ctx: NodeContext, positive: Conditioning, negative: Conditioning | None,
    control_net: ControlNet, image: Tensor, vae: Vae | None, mask: Tensor | None,
    strength: float, start_percent: float, end_percent: float,
) -> tuple[Conditioning, Conditioning]:
    from pipelines.sampling.control import apply_control

    return apply_control(positive, negative, control_net, image, strength, start_percent,
                         end_percent, mask)
