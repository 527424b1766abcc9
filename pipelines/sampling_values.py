"""Values of split ("custom") sampling that flow on graph links, as ComfyUI's SAMPLER, SIGMAS
and GUIDER: plain dataclasses; ``pipelines.sampling.schedules`` turns a ``Sigmas`` into
numbers and ``pipelines.sampling.custom`` runs them through the one denoise loop."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipelines.values import Conditioning, DiffusionModel


@dataclass(frozen=True)
class SamplerChoice:
    """A sampling method by name (``pipelines.catalog.SAMPLER_NAMES``)."""

    name: str


@dataclass(frozen=True, eq=False)
class Sigmas:
    """A noise schedule: where it comes from and the cuts made to it since.

    The numbers are made when a run knows its latent (Flux's shift depends on the image
    size) and its sampler (our "normal" is each sampler's own spacing), by
    ``pipelines.sampling.schedules.resolve``.

    ``kind``: "schedule" (``schedule`` of ``model``'s sampling, ``steps`` after ``denoise``
    as ComfyUI's BasicScheduler cuts it), "karras" / "exponential" (``sigma_max``,
    ``sigma_min``, ``rho``), "sd_turbo" (the model's sigmas at timesteps 999, 899, ...), or
    "values" (``values``). ``cuts``: ("high", k) keeps sigmas[:k+1], ("low", k) sigmas[k:],
    ("flip", 0) reverses them, in order.
    """

    kind: str
    model: DiffusionModel | None = None
    schedule: str = "normal"
    steps: int = 20
    denoise: float = 1.0
    sigma_max: float = 14.614642
    sigma_min: float = 0.0291675
    rho: float = 7.0
    values: tuple[float, ...] = ()
    cuts: tuple[tuple[str, int], ...] = ()

    def cut(self, how: str, step: int = 0) -> Sigmas:
        """A copy with one more cut ("high", "low" or "flip")."""
        return replace(self, cuts=(*self.cuts, (how, step)))


@dataclass(frozen=True, eq=False)
class Guider:
    """What the denoiser is asked each step and how its answers combine (ComfyUI's GUIDER):
    the model, the positive, a negative for CFG (None: the positive alone, cfg 1) and, for
    dual CFG, a ``middle`` conditioning with its own scale ``middle_cfg``."""

    model: DiffusionModel
    positive: Conditioning
    negative: Conditioning | None = None
    cfg: float = 1.0
    middle: Conditioning | None = None
    middle_cfg: float = 1.0
    nested: bool = False
