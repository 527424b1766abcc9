"""Image post-processing nodes with ComfyUI's arithmetic (its nodes_post_processing.py:
ImageBlend, ImageBlur, ImageSharpen, ImageQuantize)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.ports import IMAGE
from pipelines.catalog import BLEND_MODES, QUANTIZE_DITHERS

if TYPE_CHECKING:
    from torch import Tensor

_SIGMA = ("Spread of the Gaussian, in units of the radius (ComfyUI's kernel spans -1..1), "
          "not pixels.")


@node("image.blend", title="Blend Images", category="image",
      description="Mix two images with a blend mode (ComfyUI's ImageBlend); a second image of "
      "another size is fitted to the first (center crop, bicubic).",
      inputs=[Link("image1", IMAGE), Link("image2", IMAGE),
              Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01,
                    description="0: the first image; 1: the blend mode's result."),
              Choice("blend_mode", "normal", choices=BLEND_MODES)],
      outputs=[Output("image", IMAGE)])
def blend_images(ctx: NodeContext, image1: Tensor, image2: Tensor, blend_factor: float,
                 blend_mode: str) -> Tensor:
    from pipelines.postprocess import blend

    return blend(image1, image2, blend_factor, blend_mode)


@node("image.blur", title="Blur Image", category="image",
      description="Gaussian blur (ComfyUI's ImageBlur).",
      inputs=[Link("image", IMAGE),
              Int("blur_radius", 1, min=1, max=31, description="Kernel radius in pixels."),
              Float("sigma", 1.0, min=0.1, max=10.0, step=0.1, description=_SIGMA)],
      outputs=[Output("image", IMAGE)])
def blur_image(ctx: NodeContext, image: Tensor, blur_radius: int, sigma: float) -> Tensor:
    from pipelines.postprocess import blur

    return blur(image, blur_radius, sigma)


@node("image.sharpen", title="Sharpen Image", category="image",
      description="Unsharp masking (ComfyUI's ImageSharpen).",
      inputs=[Link("image", IMAGE),
              Int("sharpen_radius", 1, min=1, max=31, description="Kernel radius in pixels."),
              Float("sigma", 1.0, min=0.1, max=10.0, step=0.01, description=_SIGMA),
              Float("alpha", 1.0, min=0.0, max=5.0, step=0.01, description="Strength.")],
      outputs=[Output("image", IMAGE)])
def sharpen_image(ctx: NodeContext, image: Tensor, sharpen_radius: int, sigma: float,
                  alpha: float) -> Tensor:
    from pipelines.postprocess import sharpen

    return sharpen(image, sharpen_radius, sigma, alpha)


@node("image.quantize", title="Quantize Image", category="image",
      description="Reduce each image to a palette of its own (ComfyUI's ImageQuantize).",
      inputs=[Link("image", IMAGE),
              Int("colors", 256, min=1, max=256, description="Palette size."),
              Choice("dither", "floyd-steinberg", choices=QUANTIZE_DITHERS)],
      outputs=[Output("image", IMAGE)])
def quantize_image(ctx: NodeContext, image: Tensor, colors: int, dither: str) -> Tensor:
    from pipelines.postprocess import quantize

    return quantize(image, colors, dither)
