"""Values that flow on graph links: models, conditioning, latents, noise (plain dataclasses)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from pipelines.sampling.noise import NOISE_MODES, SEED_MASK, randn


@dataclass(eq=False)
class DiffusionModel:
    """A denoising network plus what is needed to drive and preview it.

    ``denoiser`` is the network the sampler calls (a UNet today); ``family`` the id of its
    ``pipelines.families`` description, which says how to call it. ``scheduler_config`` is the
    model's own scheduler config (a plain dict); every sampler is built fresh from it.
    ``latent_rgb_factors`` is a C x 3 matrix for cheap previews (or None).
    """

    denoiser: Any
    scheduler_config: dict[str, Any]
    family: str
    latent_channels: int
    vae_scale_factor: int
    prediction_type: str
    latent_rgb_factors: list[list[float]] | None
    latent_rgb_bias: list[float] | None
    source: str
    # phi of guidance rescale (Lin et al. 2023), applied after CFG; 0 = off (Model Sampling node)
    guidance_rescale: float = 0.0
    # the family's other scheduler configs by folder (IF stage II: "image_noising_scheduler")
    schedulers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per-run patches of the shared denoiser (IP-Adapter): each installs itself for one run
    # of the denoise loop and restores the network after it (``pipelines.sampling.patches``)
    patches: tuple[Any, ...] = ()
    # what else the family's denoiser inputs need, read from the folder by the family
    # (``ModelFamily.read_extras``; Stable unCLIP: its embedding noising schedule and statistics)
    extras: dict[str, Any] = field(default_factory=dict)
    differential_diffusion: float | None = None  # its strength (sampling.masking); None: off

    @property
    def inpainting(self) -> bool:
        """True for inpainting denoisers, whose input is [noisy latent, mask, masked-image
        latent] (``in_channels == 2 * latent_channels + 1``): they need
        ``Latent.masked_image_latents``."""
        config = getattr(self.denoiser, "config", None)
        in_channels = getattr(config, "in_channels", self.latent_channels)
        return int(in_channels) == 2 * self.latent_channels + 1


@dataclass(eq=False)
class TextEncoder:
    """Up to three (tokenizer, text encoder) pairs, named as in diffusers folders: the pair
    ``tokenizer``/``text_encoder``, then ``_2`` and ``_3``. SD1/2: one CLIP; SDXL: two CLIPs;
    DeepFloyd IF: one T5; SD3: CLIP-L, CLIP-G, T5; Flux: CLIP-L, T5. ``family`` is the model's
    family id: its ``text_encoding`` says how a prompt is encoded with these pairs."""

    tokenizer: Any
    text_encoder: Any
    source: str
    tokenizer_2: Any = None
    text_encoder_2: Any = None
    family: str = "unknown"
    tokenizer_3: Any = None
    text_encoder_3: Any = None
    # ComfyUI's CLIPSetLastLayer: the CLIP layer the prompt is read from (-1 the last, -2 the
    # one before, ...); None = the family's own choice. ``encode_text`` turns it into clip skip.
    last_layer: int | None = None

    def pairs(self) -> list[tuple[Any, Any]]:
        """All three (tokenizer, text encoder) slots in order, empty ones as (None, None)."""
        return [(self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2),
                (self.tokenizer_3, self.text_encoder_3)]

    def present(self) -> list[tuple[Any, Any]]:
        """(tokenizer, text encoder) of each pair the model has, in order."""
        return [(tok, te) for tok, te in self.pairs() if te is not None]


@dataclass(eq=False)
class Vae:
    """An ``AutoencoderKL`` with the factors mapping its latents to the model's latent space."""

    vae: Any
    scaling_factor: float
    shift_factor: float | None
    source: str
    # extra keyword arguments of ``vae.decode`` (a VQModel decoder: force_not_quantize)
    decode_options: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class ClipVision:
    """A CLIP vision encoder with projection (``CLIPVisionModelWithProjection``) and the image
    processor that prepares its input (resize, center crop, normalize)."""

    image_encoder: Any
    image_processor: Any
    source: str


@dataclass(eq=False)
class IPAdapterWeights:
    """An IP-Adapter file in the original layout: ``image_proj`` (the image projection: plain,
    plus, full-face or face-id) and ``ip_adapter`` (``N.to_k_ip.weight`` / ``N.to_v_ip.weight``
    of every cross-attention layer), the two dicts diffusers' IP-Adapter loaders take."""

    image_proj: dict[str, torch.Tensor]
    ip_adapter: dict[str, torch.Tensor]
    kind: str  # "plain" | "plus" | "full" | "faceid" | "faceid_plus"
    source: str


@dataclass(eq=False)
class Prior:
    """An unCLIP prior (``PriorTransformer``): text -> CLIP image embedding, with the CLIP text
    encoder with projection it reads, its scheduler config and the CLIP vision encoder whose
    embedding of a black image is the "zero" negative embedding (as Kandinsky 2.2's prior;
    None for Karlo, whose decoder learned its own unconditional embedding)."""

    prior: Any
    text_encoder: Any
    tokenizer: Any
    image_encoder: Any
    image_processor: Any
    scheduler_config: dict[str, Any]
    source: str


@dataclass(eq=False)
class UnclipDecoder:
    """An unCLIP (Karlo) pixel cascade: the 64px decoder with its text projection
    (``UnCLIPTextProjModel``) and CLIP text encoder, and the two super-resolution UNets (the
    first for every step but the last); scheduler configs as plain dicts."""

    decoder: Any
    text_proj: Any
    text_encoder: Any
    tokenizer: Any
    super_res_first: Any
    super_res_last: Any
    decoder_scheduler_config: dict[str, Any]
    super_res_scheduler_config: dict[str, Any]
    source: str


@dataclass(eq=False)
class ControlNet:
    """A ControlNet (``ControlNetModel``), a ControlNet-Union (``ControlNetUnionModel``) or a
    T2I-Adapter (``T2IAdapter``): ``kind`` is "controlnet", "controlnet_union" or "t2i_adapter";
    the network turns a hint image into residuals of the UNet. ``union_type`` is the control
    type a Union net is told its hint is (ComfyUI's SetUnionControlNetType; None: not set)."""

    network: Any
    kind: str
    source: str
    union_type: int | None = None


@dataclass(eq=False)
class ImageEmbedding:
    """CLIP image embeddings [B, dim] (from a prior, a CLIP vision encoder, or a mix of them)."""

    embeds: torch.Tensor
    text: str = ""


@dataclass(eq=False)
class Conditioning:
    """Encoded prompt: ``embeds`` [B, seq, dim] (the cross-attention states) and named
    ``extras`` a family's denoiser also takes: "pooled" [B, dim] (SDXL), later T5 sequences,
    image embeddings or control hints."""

    embeds: torch.Tensor
    text: str = ""
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    # ControlNet / T2I-Adapter hints that steer the denoiser when this conditioning is used
    # (``pipelines.sampling.control.ControlHint``, in the order they were applied)
    control: tuple[Any, ...] = ()
    # Where and when this entry acts (ComfyUI's conditioning keys; ``pipelines.sampling.
    # regions`` applies them): ``area`` is ("pixels" | "percentage", height, width, y, x),
    # ``mask`` [H, W] or [B, H, W] (0..1, any size) times ``mask_strength``; ``area_from_mask``
    # crops to the mask's bounds; ``strength`` weighs the entry's prediction; ``start``/``end``
    # are the fraction of the schedule it acts in.
    area: tuple[Any, ...] | None = None
    mask: torch.Tensor | None = None
    mask_strength: float = 1.0
    area_from_mask: bool = False
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0
    # further entries (Conditioning Combine), each predicted alone, averaged by weight; flat
    combined: tuple[Conditioning, ...] = ()
    gligen: Any = None  # GLIGEN boxes: a ``pipelines.sampling.gligen.Grounding``

    @property
    def pooled(self) -> torch.Tensor | None:
        """The pooled text embedding (SDXL), or None."""
        return self.extras.get("pooled")

    def entries(self) -> list[Conditioning]:
        """This conditioning as ComfyUI's list: the first entry (itself without ``combined``),
        then the combined ones."""
        head = replace(self, combined=()) if self.combined else self
        return [head, *self.combined]

    def each(self, change: Callable[[Conditioning], Conditioning]) -> Conditioning:
        """``change`` applied to every entry (ComfyUI's conditioning nodes loop over the list)."""
        heads = [change(entry) for entry in self.entries()]
        return replace(heads[0], combined=tuple(heads[1:]))

    @property
    def plain(self) -> bool:
        """One entry acting everywhere, all the time, at full strength (the common case)."""
        return (not self.combined and self.area is None and self.mask is None
                and self.start <= 0.0 and self.end >= 1.0)


@dataclass(eq=False)
class Latent:
    """Latents [B, C, h, w] in the *scaled* space the denoiser sees (VAE latents x scaling).

    ``noise_mask`` (optional, 0..1, shape [h, w], [B, h, w] or [B, 1, h, w] at any resolution):
    1 = repaint, 0 = keep the original latent.
    ``masked_image_latents`` (optional, [B, C, h, w] scaled): the image with the masked area
    set to mid-grey (0 in the VAE's -1..1 input), encoded; inpainting models (``DiffusionModel.
    inpainting``) take it and the mask as extra input channels every step.
    """

    samples: torch.Tensor
    noise_mask: torch.Tensor | None = field(default=None)
    masked_image_latents: torch.Tensor | None = field(default=None)
    # which space the samples are in: a family id (its latent format), or None when not known
    space: str | None = field(default=None)
    # the mask inpainting models see when no noise mask blends (ComfyUI's
    # InpaintModelConditioning with noise_mask off); otherwise they see ``noise_mask``
    inpaint_mask: torch.Tensor | None = field(default=None)
    # each image's place in the batch its noise is drawn for (ComfyUI's ``batch_index``, set
    # by Latent From Batch / Repeat Latent Batch); None: images 0..B-1
    batch_index: tuple[int, ...] | None = field(default=None)


@dataclass(frozen=True)
class Noise:
    """A seed for the initial noise and for the per-step noise of stochastic samplers.

    ``mode="batch"``: one CPU generator seeded with ``seed`` draws the whole batch, exactly like
    diffusers' ``randn_tensor`` with a single CPU generator. ``mode="per_image"``: image ``i``
    uses ``seed + i``, so any one image of a batch can be reproduced alone.
    ``step_seed_delta`` (A1111's ENSD): not 0, per-step noise comes from generator(s) seeded
    ``seed + delta`` (``noise.step_generators``), not from the initial noise's stream.
    """

    seed: int
    mode: str = "batch"
    # ComfyUI's DisableNoise: no noise is added (the latent carries its own leftover noise)
    disabled: bool = False
    step_seed_delta: int = 0

    def __post_init__(self) -> None:
        if self.mode not in NOISE_MODES:
            raise ValueError(
                f"Unknown noise mode {self.mode!r}; valid modes: {', '.join(NOISE_MODES)}"
            )

    def generator(self) -> torch.Generator:
        """Returns: a fresh CPU generator seeded with ``seed``."""
        return torch.Generator("cpu").manual_seed(self.seed & SEED_MASK)

    def generators(self, batch_size: int) -> torch.Generator | list[torch.Generator]:
        """Generator(s) in the form diffusers' ``generator=`` argument takes.

        Args:
            batch_size: Number of images in the batch.

        Returns:
            One generator (``batch`` mode) or one per image seeded ``seed + i`` (``per_image``).
        """
        if self.mode == "batch":
            return self.generator()
        return [
            torch.Generator("cpu").manual_seed((self.seed + i) & SEED_MASK)
            for i in range(batch_size)
        ]

    def sample(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Draw standard Gaussian noise on the CPU (the same numbers on every device).

        Args:
            shape: Tensor shape, batch first.
            dtype: Floating point dtype of the result.

        Returns:
            A CPU tensor of ``shape``.
        """
        return randn(tuple(shape), self.generators(shape[0]), dtype)
