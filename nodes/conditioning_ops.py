"""Conditioning operations (ComfyUI's Conditioning* nodes and CLIPSetLastLayer): combine,
concat, average, zero out, areas in pixels or fractions, area strength, masks, timestep
ranges, and the CLIP layer prompts are read from. Areas, masks and ranges act in the sampler
(``pipelines.sampling.regions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, node
from node_api.ports import CLIP, CONDITIONING, MASK

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import Conditioning, TextEncoder

_OUT = [Output("conditioning", CONDITIONING)]
_IN = Link("conditioning", CONDITIONING)
_STRENGTH = Float("strength", 1.0, min=0.0, max=10.0, step=0.01,
                  description="Weight of this conditioning's prediction where it acts.")
MAX_PIXELS = 16384


@node("conditioning.combine", title="Conditioning Combine", category="conditioning",
      description="Both conditionings as separate entries: the sampler predicts each on its "
      "own (on its area, if it has one) and averages the predictions by their weights.",
      inputs=[Link("conditioning_1", CONDITIONING), Link("conditioning_2", CONDITIONING)],
      outputs=_OUT)
def combine(ctx: NodeContext, conditioning_1: Conditioning,
            conditioning_2: Conditioning) -> Conditioning:
    from pipelines.sampling.conditioning_ops import combine as combine_conditionings

    return combine_conditionings(conditioning_1, conditioning_2)


@node("conditioning.concat", title="Conditioning Concat", category="conditioning",
      description="Append the tokens of conditioning_from (its first entry) to every entry of "
      "conditioning_to: one prompt that reads both.",
      inputs=[Link("conditioning_to", CONDITIONING), Link("conditioning_from", CONDITIONING)],
      outputs=_OUT)
def concat(ctx: NodeContext, conditioning_to: Conditioning,
           conditioning_from: Conditioning) -> Conditioning:
    from pipelines.sampling.conditioning_ops import concat as concat_conditionings

    return concat_conditionings(conditioning_to, conditioning_from)


@node("conditioning.average", title="Conditioning Average", category="conditioning",
      description="Mix the embeddings: to x strength + from x (1 - strength), pooled outputs "
      "alike; the tokens of conditioning_from are cut or zero-padded to conditioning_to's.",
      inputs=[Link("conditioning_to", CONDITIONING), Link("conditioning_from", CONDITIONING),
              Float("conditioning_to_strength", 1.0, min=0.0, max=1.0, step=0.01,
                    description="Share of conditioning_to (1 = it alone).")],
      outputs=_OUT)
def average(ctx: NodeContext, conditioning_to: Conditioning, conditioning_from: Conditioning,
            conditioning_to_strength: float) -> Conditioning:
    from pipelines.sampling.conditioning_ops import average as average_conditionings

    return average_conditionings(conditioning_to, conditioning_from, conditioning_to_strength)


@node("conditioning.zero_out", title="Conditioning Zero Out", category="conditioning",
      description="Zeros for the text states and pooled outputs (a negative some models, "
      "like SD3 and Flux workflows, are given instead of an empty prompt).",
      inputs=[_IN], outputs=_OUT)
def zero_out(ctx: NodeContext, conditioning: Conditioning) -> Conditioning:
    from pipelines.sampling.conditioning_ops import zero_out as zero_conditioning

    return zero_conditioning(conditioning)


@node("conditioning.set_area", title="Conditioning Set Area", category="conditioning",
      description="Make the conditioning act only in a box of the image, in pixels (combine "
      "it with others; edges inside the image fade over 8 latent cells).",
      inputs=[_IN,
              Int("width", 64, min=64, max=MAX_PIXELS, step=8, description="Box width."),
              Int("height", 64, min=64, max=MAX_PIXELS, step=8, description="Box height."),
              Int("x", 0, min=0, max=MAX_PIXELS, step=8, description="Left edge."),
              Int("y", 0, min=0, max=MAX_PIXELS, step=8, description="Top edge."),
              _STRENGTH],
      outputs=_OUT)
def set_area(ctx: NodeContext, conditioning: Conditioning, width: int, height: int, x: int,
             y: int, strength: float) -> Conditioning:
    from pipelines.sampling.conditioning_ops import set_area as set_box

    return set_box(conditioning, width, height, x, y, strength)


@node("conditioning.set_area_percentage", title="Conditioning Set Area (Percentage)",
      category="conditioning",
      description="Make the conditioning act only in a box given as fractions of the image.",
      inputs=[_IN,
              Float("width", 1.0, min=0.0, max=1.0, step=0.01, description="Box width."),
              Float("height", 1.0, min=0.0, max=1.0, step=0.01, description="Box height."),
              Float("x", 0.0, min=0.0, max=1.0, step=0.01, description="Left edge."),
              Float("y", 0.0, min=0.0, max=1.0, step=0.01, description="Top edge."),
              _STRENGTH],
      outputs=_OUT)
def set_area_percentage(ctx: NodeContext, conditioning: Conditioning, width: float,
                        height: float, x: float, y: float, strength: float) -> Conditioning:
    from pipelines.sampling.conditioning_ops import set_area_percentage as set_fraction

    return set_fraction(conditioning, width, height, x, y, strength)


@node("conditioning.set_area_strength", title="Conditioning Set Area Strength",
      category="conditioning",
      description="Set the weight of the conditioning's prediction against the others it is "
      "combined with.",
      inputs=[_IN, _STRENGTH], outputs=_OUT)
def set_area_strength(ctx: NodeContext, conditioning: Conditioning,
                      strength: float) -> Conditioning:
    from pipelines.sampling.conditioning_ops import set_values

    return set_values(conditioning, strength=float(strength))


@node("conditioning.set_mask", title="Conditioning Set Mask", category="conditioning",
      description="Make the conditioning act where the mask is (its value x strength weighs "
      "each pixel); 'mask bounds' also crops the model input to the mask's box.",
      inputs=[_IN, Link("mask", MASK, "Where the conditioning acts (1) and where not (0)."),
              _STRENGTH,
              Choice("set_cond_area", "default", choices=("default", "mask bounds"),
                     description="'mask bounds': run the model on the mask's box only.")],
      outputs=_OUT)
def set_mask(ctx: NodeContext, conditioning: Conditioning, mask: Tensor, strength: float,
             set_cond_area: str) -> Conditioning:
    from pipelines.sampling.conditioning_ops import set_mask as set_weights

    return set_weights(conditioning, mask, strength, set_cond_area == "mask bounds")


@node("conditioning.set_timestep_range", title="Conditioning Set Timestep Range",
      category="conditioning",
      description="Make the conditioning act only in part of the schedule (0 = the first, "
      "noisiest step, 1 = the end); combine two to switch prompts midway.",
      inputs=[_IN,
              Float("start", 0.0, min=0.0, max=1.0, step=0.001, description="Where it begins."),
              Float("end", 1.0, min=0.0, max=1.0, step=0.001, description="Where it ends.")],
      outputs=_OUT)
def set_timestep_range(ctx: NodeContext, conditioning: Conditioning, start: float,
                       end: float) -> Conditioning:
    from pipelines.sampling.conditioning_ops import set_timestep_range as set_range

    return set_range(conditioning, start, end)


@node("conditioning.clip_set_last_layer", title="CLIP Set Last Layer", category="conditioning",
      description="Read prompts from an earlier CLIP layer (clip skip): -1 is the last layer, "
      "-2 the one before (A1111's 'Clip skip 2'). Text Encode nodes fed by this use it.",
      inputs=[Link("clip", CLIP),
              Int("stop_at_clip_layer", -1, min=-24, max=-1,
                  description="The layer prompts are read from, counted from the end.")],
      outputs=[Output("clip", CLIP)])
def clip_set_last_layer(ctx: NodeContext, clip: TextEncoder,
                        stop_at_clip_layer: int) -> TextEncoder:
    from dataclasses import replace

    return replace(clip, last_layer=int(stop_at_clip_layer))
