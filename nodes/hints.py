"""Preprocessor nodes: hint images for ControlNet, T2I-Adapter and IP-Adapter, made offline
(Canny, soft edges / scribble, grayscale, invert, resize to the model's multiple, tile blur)
or with a depth model from the preprocessors folder. Each shows its result on the node."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, String, node
from node_api.ports import IMAGE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from torch import Tensor

HINT = Output("image", IMAGE, "The hint image (shown on the node).")


def _shown(ctx: NodeContext, image: Tensor) -> Tensor:
    """The hint image, shown on the node (and in the preview panel) as a sampler's steps are."""
    if getattr(ctx, "wants_previews", False):
        import numpy as np

        from pipelines.image import to_pil

        ctx.progress(1, 1, np.asarray(to_pil(image[:1])[0]))
    return image


def _made(ctx: NodeContext, maker: str, field: str, *args: Any) -> Tensor:
    """``pipelines.hints.<maker>(*args)``, shown on the node; its ValueError names ``field``."""
    import pipelines.hints
    from node_api.errors import NodeInputError

    make: Callable[..., Tensor] = getattr(pipelines.hints, maker)
    try:
        image = make(*args)
    except ValueError as exc:
        raise NodeInputError(field, str(exc)) from None
    return _shown(ctx, image)


def _hint(name: str, title: str, description: str, *fields: Any, image: str = "",
          **options: Any) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """The declaration every preprocessor shares: an ``image`` in (described by ``image``),
    ``fields`` after it, the hint image out."""
    return node(f"hints.{name}", title=title, category="hints", description=description,
                inputs=[Link("image", IMAGE, image), *fields], outputs=[HINT], **options)


def _folder(what: str) -> String:
    """The ``model`` field of a preprocessor with a model of its own."""
    return String("model", "", kind="model:preprocessors",
                  description=f"{what} model folder in the preprocessors folder, or a path.")


def _estimated(ctx: NodeContext, model: str, load: Callable[..., Any],
               estimate: Callable[[Any], Tensor]) -> Tensor:
    """``estimate(network)`` with the preprocessor ``model`` loaded by ``load`` (through the
    model cache) and placed on the run's device, shown on the node."""
    from nodes._models import on_device

    settings = load_settings(ctx)
    network = load(resolve_model(model, "preprocessors"), device=settings["device"],
                   vram_mode=settings["vram_mode"])
    ctx.check_cancelled()
    with on_device(ctx, network):
        return _shown(ctx, estimate(network))


@_hint(
    "canny",
    "Canny",
    "Canny edge detection (white edges on black), the hint of canny ControlNets; "
    "the same edges as ComfyUI's Canny node.",
    Float("low_threshold", 0.4, min=0.01, max=0.99, step=0.01,
          description="Weaker edges than this are dropped."),
    Float("high_threshold", 0.8, min=0.01, max=0.99, step=0.01,
          description="Edges stronger than this are kept; those between, where connected."),
)
def canny(ctx: NodeContext, image: Tensor, low_threshold: float, high_threshold: float) -> Tensor:
    return _made(ctx, "canny", "low_threshold", image, low_threshold, high_threshold)


@_hint(
    "soft_edges",
    "Soft Edges",
    "A soft edge map (Sobel gradient or difference of Gaussians), white on black; "
    "with a threshold it becomes a binary scribble. Invert it for black lines on white.",
    Choice("method", "sobel", choices=("sobel", "dog"),
           description="sobel: gradient magnitude; dog: difference of Gaussians."),
    Float("sigma", 1.0, min=0.0, max=10.0, step=0.1, description="Blur in pixels first."),
    Float("threshold", 0.0, min=0.0, max=1.0, step=0.01,
          description="Above 0: binary scribble of the edges stronger than this."),
)
def soft_edges(ctx: NodeContext, image: Tensor, method: str, sigma: float, threshold: float) -> Tensor:
    return _made(ctx, "soft_edges", "method", image, method, sigma, threshold)


@_hint("grayscale", "Grayscale", "The image's luminance in all three channels.")
def grayscale(ctx: NodeContext, image: Tensor) -> Tensor:
    return _made(ctx, "grayscale", "image", image)


@_hint("invert", "Invert Image", "1 - image: black lines on white become white lines on black.")
def invert(ctx: NodeContext, image: Tensor) -> Tensor:
    return _made(ctx, "invert", "image", image)


@_hint(
    "resize_to_model",
    "Resize for Model",
    "Scale so the short (or long) side is about the resolution, each side a "
    "multiple of 8 or 64, so a hint matches the latent it steers.",
    Int("resolution", 512, min=64, max=8192, step=8,
        description="Target length of the chosen side, in pixels."),
    Choice("multiple", "64", choices=("8", "64"),
           description="Round each side to a multiple of this."),
    Choice("side", "short_side", choices=("short_side", "long_side"),
           description="Which side gets the resolution."),
)
def resize_to_model(ctx: NodeContext, image: Tensor, resolution: int, multiple: str, side: str) -> Tensor:
    return _made(ctx, "resize_to_multiple", "resolution", image, resolution, int(multiple), side)


@_hint(
    "tile",
    "Tile Blur",
    "The tile ControlNet's hint: the image sampled down and back up, then blurred.",
    Float("downscale", 4.0, min=1.0, max=16.0, step=0.5,
          description="Sample down by this factor and back up (1: keep)."),
    Float("blur", 0.0, min=0.0, max=20.0, step=0.5,
          description="Gaussian blur in pixels (0: none)."),
)
def tile(ctx: NodeContext, image: Tensor, downscale: float, blur: float) -> Tensor:
    return _made(ctx, "tile_blur", "downscale", image, downscale, blur)


@_hint(
    "normals_from_depth",
    "Normal Map (from depth)",
    "A normal map for normal ControlNets from a depth image (near is white, e.g. "
    "the Depth node's): Sobel gradients of the depth as x/y and a constant z, as ControlNet "
    "1.0's normal-from-MiDaS hint. No model of its own.",
    Float("strength", 1.0, min=0.01, max=20.0, step=0.05,
          description="How steep the depth's slopes read (times the gradients)."),
    Float("background", 0.1, min=0.0, max=1.0, step=0.01,
          description="Depth below this faces the viewer (flat background)."),
    image="A depth image (near is white).",
)
def normals_from_depth(ctx: NodeContext, image: Tensor, strength: float,
                       background: float) -> Tensor:
    return _made(ctx, "normals_from_depth", "strength", image, strength, background)


@_hint(
    "depth",
    "Depth (model)",
    "Relative depth (near is white) from a Depth Anything or DPT folder in the "
    "preprocessors model folder; nothing is downloaded.",
    _folder("Depth"),
    fingerprint=model_fingerprint("model", "preprocessors"),
)
def depth(ctx: NodeContext, image: Tensor, model: str) -> Tensor:
    from pipelines.loading.cached import load_depth_cached
    from pipelines.loading.depth import estimate_depth

    return _estimated(ctx, model, load_depth_cached,
                      lambda network: estimate_depth(network, image, device=ctx.device))


@node(
    "hints.pose",
    title="Pose (model)",
    category="hints",
    description="OpenPose-style body skeletons from a ViTPose folder in the preprocessors model "
    "folder: of the person filling the image, or, with an RT-DETR person detector folder, of "
    "every person it finds; nothing is downloaded.",
    inputs=[
        Link("image", IMAGE),
        String("model", "", kind="model:preprocessors",
               description="ViTPose model folder in the preprocessors folder, or a path."),
        Float("threshold", 0.3, min=0.0, max=1.0, step=0.05,
              description="Keypoints scored below this are left out."),
        String("detector", "", kind="model:preprocessors",
               description="Optional: an RT-DETR folder (e.g. rtdetr_r50vd_coco_o365) in the "
               "preprocessors folder; every person it finds gets a skeleton."),
    ],
    outputs=[HINT],
    fingerprint=lambda values: [model_fingerprint("model", "preprocessors")(values),
                                model_fingerprint("detector", "preprocessors")(values)
                                if values.get("detector") else None],
)
def pose(ctx: NodeContext, image: Tensor, model: str, threshold: float,
         detector: str) -> Tensor:
    import contextlib

    from nodes._models import on_device
    from pipelines.hints_pose import estimate_pose
    from pipelines.loading.cached import load_person_detector_cached, load_pose_cached

    settings = load_settings(ctx)
    network = load_pose_cached(resolve_model(model, "preprocessors"),
                               device=settings["device"], vram_mode=settings["vram_mode"])
    finder = None if not detector else load_person_detector_cached(
        resolve_model(detector, "preprocessors"), device=settings["device"],
        vram_mode=settings["vram_mode"])
    ctx.check_cancelled()
    with on_device(ctx, network), (on_device(ctx, finder) if finder is not None
                                   else contextlib.nullcontext()):
        return _shown(ctx, estimate_pose(network, image, device=ctx.device, threshold=threshold,
                                         detector=finder))
