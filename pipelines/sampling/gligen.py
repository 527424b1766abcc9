"""GLIGEN: phrases grounded in boxes (ComfyUI's GLIGENTextBoxApply, diffusers'
StableDiffusionGLIGENPipeline).

A conditioning carries its boxes as ``Conditioning.gligen`` (a ``Grounding``): each box's
phrase as the pooled CLIP embedding, its place in pixels (ComfyUI's x, y, width, height,
counted in latent cells at sampling time as ComfyUI does), and the fraction of the steps the
boxes act in (diffusers' ``gligen_scheduled_sampling_beta``; ComfyUI: all steps, 1.0).

At sampling time a run patch gives the denoiser what diffusers' pipeline gives it:
``cross_attention_kwargs["gligen"] = {boxes, positive_embeddings, masks}`` padded to 30
objects, the unconditional half with masks 0 (the UNet's null features), and takes it away
after the grounding steps (diffusers switches the fusers off then: the same outputs). The
denoiser must have GLIGEN layers (``families.unet.takes_grounding``): a diffusers GLIGEN UNet
(``attention_type="gated"``), or one given them for the run by a GLIGEN file
(``pipelines.sampling.gligen_file``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from pipelines.speed.inference import ordinary

if TYPE_CHECKING:
    from pipelines.values import Conditioning, DiffusionModel, TextEncoder

MAX_OBJECTS = 30  # the GLIGEN models' object slots (diffusers' and ComfyUI's max_objs)


@dataclass(frozen=True, eq=False)
class Grounding:
    """Boxes of one conditioning: phrase embeddings [dim] and (x, y, width, height) in
    pixels, the fraction of steps they act in, and the GLIGEN file's layers (None: the
    model's own)."""

    phrases: tuple[torch.Tensor, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    steps: float = 1.0
    weights: Any = None  # pipelines.sampling.gligen_file.GligenWeights


def phrase_embedding(clip: TextEncoder, text: str, device: str | torch.device = "cpu"
                     ) -> torch.Tensor:
    """The pooled output of the first CLIP for ``text`` [dim], as diffusers' GLIGEN pipeline
    embeds a phrase (and ComfyUI's ``cond_pooled`` of an SD 1.x CLIP)."""
    tokenizer, encoder = clip.present()[0]
    tokens = tokenizer([text], padding=True, truncation=True,
                       max_length=tokenizer.model_max_length, return_tensors="pt")
    with torch.inference_mode():
        out = encoder(input_ids=tokens.input_ids.to(device),
                      attention_mask=tokens.attention_mask.to(device))
    return ordinary(out.pooler_output[0].float().cpu())


def add_box(cond: Conditioning, phrase: torch.Tensor, box: tuple[int, int, int, int],
            steps: float = 1.0, weights: Any = None) -> Conditioning:
    """``cond`` with one more box on every entry (ComfyUI appends to the boxes it has)."""

    def change(entry: Conditioning) -> Conditioning:
        old = entry.gligen
        if old is not None and weights is not None and old.weights not in (None, weights):
            raise ValueError("the conditioning already has boxes of another GLIGEN model")
        grounding = Grounding(
            phrases=(*(old.phrases if old else ()), phrase),
            boxes=(*(old.boxes if old else ()), box), steps=steps,
            weights=weights if weights is not None else (old.weights if old else None))
        return replace(entry, gligen=grounding)

    return cond.each(change)


def _tensors(grounding: Grounding, height: int, width: int, factor: int,
             device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """(boxes [30, 4] as x0, y0, x1, y1 fractions, embeddings [30, dim], masks [30])."""
    count = min(len(grounding.boxes), MAX_OBJECTS)
    boxes = torch.zeros(MAX_OBJECTS, 4)
    for i, (x, y, w, h) in enumerate(grounding.boxes[:count]):
        # ComfyUI counts in latent cells: (x // 8) / latent width, ...
        cx, cy, cw, ch = x // factor, y // factor, w // factor, h // factor
        boxes[i] = torch.tensor([cx / width, cy / height, (cx + cw) / width, (cy + ch) / height])
    dim = grounding.phrases[0].shape[-1]
    embeds = torch.zeros(MAX_OBJECTS, dim)
    embeds[:count] = torch.stack(grounding.phrases[:count])
    masks = torch.zeros(MAX_OBJECTS)
    masks[:count] = 1
    return tuple(t.to(device=device, dtype=dtype) for t in (boxes, embeds, masks))


@dataclass(eq=False)
class GroundingPatch:
    """The boxes of a run's positive (and negative) conditioning, given to the denoiser."""

    positive: Grounding
    negative: Grounding | None
    size: tuple[int, int]  # the latent's height and width

    @contextlib.contextmanager
    def run(self, model: DiffusionModel, inputs: dict[str, Any], timesteps: torch.Tensor,
            cfg_batch: bool, batch: int) -> Iterator[Callable[[int], None]]:
        from pipelines.families.unet import takes_grounding

        unet = getattr(model.denoiser, "original", model.denoiser)
        parameter = next(unet.parameters())
        device, dtype = parameter.device, parameter.dtype
        installed = contextlib.ExitStack()
        with installed:
            if self.positive.weights is not None:
                installed.enter_context(self.positive.weights.installed(unet))
            if not takes_grounding(unet):
                raise ValueError("GLIGEN boxes need a GLIGEN model: load a GLIGEN checkpoint "
                                 "or a GLIGEN file (Load GLIGEN) for this model")
            height, width = self.size
            factor = int(model.vae_scale_factor)
            pos = _tensors(self.positive, height, width, factor, device, dtype)
            if cfg_batch and self.negative is not None:
                neg = _tensors(self.negative, height, width, factor, device, dtype)
            else:  # diffusers: the positive's boxes with masks 0 (the null features)
                neg = (pos[0], pos[1], torch.zeros_like(pos[2]))
            halves = [neg, pos] if cfg_batch else [pos]
            boxes, embeds, masks = (torch.cat([h[k][None].expand(batch, *h[k].shape)
                                               for h in halves]) for k in range(3))
            gligen = {"boxes": boxes, "positive_embeddings": embeds, "masks": masks}
            kwargs = dict(inputs.get("cross_attention_kwargs") or {})
            inputs["cross_attention_kwargs"] = {**kwargs, "gligen": gligen}
            grounded = int(self.positive.steps * len(timesteps))

            def before_step(index: int) -> None:
                if index == grounded:  # diffusers switches the fusers off from here on
                    rest = dict(inputs.get("cross_attention_kwargs") or {})
                    rest.pop("gligen", None)
                    inputs["cross_attention_kwargs"] = rest

            try:
                yield before_step
            finally:
                rest = dict(inputs.get("cross_attention_kwargs") or {})
                rest.pop("gligen", None)
                inputs["cross_attention_kwargs"] = rest


def grounding_patches(positive: Conditioning, negative: Conditioning | None,
                      latent: torch.Tensor) -> list[GroundingPatch]:
    """The run patch for a positive conditioning with boxes (none without).

    Raises:
        ValueError: boxes on a conditioning with areas, masks, step ranges or combines (those
            are predicted entry by entry, without the boxes).
    """
    if all(entry.gligen is None for entry in positive.entries()):
        return []
    if not positive.plain:
        raise ValueError("GLIGEN boxes work on a plain conditioning here (no areas, masks, step "
                         "ranges or combined prompts)")
    return [GroundingPatch(positive.gligen, negative.gligen if negative is not None else None,
                           (int(latent.shape[-2]), int(latent.shape[-1])))]
