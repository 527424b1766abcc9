"""IP-Adapter (an image as a prompt) on a UNet, without changing the shared UNet.

Applying an adapter builds, off to the side, what diffusers' ``load_ip_adapter`` would put into
the UNet: the image projection layers and one ``IPAdapterAttnProcessor2_0`` per cross-attention
layer (diffusers' own converters do the key mapping), plus the image embeddings of the reference
images and of the "zero" image. The result is a ``DiffusionModel`` copy that carries them as a
patch; the shared UNet is untouched, so other branches of the graph that use the same loaded
model see no adapter.

For one run of the denoise loop (``IPAdapterPatch.run``) the patch swaps the processors and the
projection into the UNet and puts everything back afterwards, even when the run fails or is
cancelled. Swapping per run (rather than keeping a patched copy of the UNet) costs nothing per
step and no second copy of the network's weights; the model cache keeps the one UNet.

Each step the adapter's scale is its weight while the step is inside [start, end] of the
schedule and 0 outside it, as ComfyUI_IPAdapter_plus does (percent of the schedule -> timestep
``(1 - percent) * (T - 1)``; the adapter acts while ``t`` lies between those of start and end).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from pipelines.image import to_pil
from pipelines.sampling.ip_adapter_attention import (
    LayeredIPAdapterProcessor,
    RoutedProjection,
    extra_token_sets,
)
from pipelines.sampling.ip_adapter_weights import (
    EMBEDS_SCALING,
    combine_embeds,
    is_sdxl_adapter,
    layer_routes,
    layer_weights,
)
from pipelines.speed.inference import ordinary
from pipelines.values import ClipVision, DiffusionModel, IPAdapterWeights


@dataclass(eq=False)
class AdapterUse:
    """One applied adapter: its image embeddings [1, n_images, ...] (positive, and the zero
    image's), weight and the schedule range it acts in."""

    weights: IPAdapterWeights
    embeds: torch.Tensor
    negative: torch.Tensor
    weight: float
    start: float
    end: float
    weight_type: str = "linear"  # per-layer weights (``ip_adapter_weights.layer_weights``)
    mask: torch.Tensor | None = None  # [M, H, W], 1 = where the images steer (attn_mask)
    embeds_scaling: str = "V only"  # where the weight acts (``ip_adapter_attention``)
    composition: float = 1.0  # the composition layers' weight ("style and composition")
    alt: torch.Tensor | None = None  # a composition image's embeddings [1, images, ...]


_RECENT: OrderedDict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_RECENT_SIZE = 8


def encode_for_adapter(vision: ClipVision, weights: IPAdapterWeights, image: torch.Tensor,
                       device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``_encode``, remembered for the last few (encoder, embedding kind, image) so changing
    only an adapter's weight or range does not encode the images again."""
    pixels = image.detach().float().cpu().contiguous()
    digest = hashlib.sha256(pixels.numpy().tobytes()).hexdigest()
    key = (id(vision.image_encoder), vision.source, weights.kind == "plain", digest,
           tuple(pixels.shape))
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    result = _encode(vision, weights, image, device)
    _RECENT[key] = result
    while len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)
    return result


def _encode(vision: ClipVision, weights: IPAdapterWeights, image: torch.Tensor,
            device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The embeddings of the images [B, H, W, 3] (0..1) for this adapter, as diffusers'
    ``encode_image``: the projected embedding (negative: zeros) for the plain adapter, the
    penultimate hidden states (negative: those of an all-zero input) for the others.

    Returns:
        (positive, negative), each [1, B, ...] float32 on the CPU (B images = one prompt).
    """
    encoder = vision.image_encoder
    pixels = vision.image_processor(to_pil(image), return_tensors="pt").pixel_values
    pixels = pixels.to(device=device, dtype=encoder.dtype)
    with torch.inference_mode():
        if weights.kind == "plain":
            embeds = encoder(pixels).image_embeds
            negative = torch.zeros_like(embeds)
        else:
            embeds = encoder(pixels, output_hidden_states=True).hidden_states[-2]
            negative = encoder(torch.zeros_like(pixels), output_hidden_states=True).hidden_states[-2]
    return ordinary(embeds.float().cpu())[None], ordinary(negative.float().cpu())[None]


def _scale_schedule(uses: list[AdapterUse], timesteps: torch.Tensor,
                    train_steps: int) -> list[list[float]]:
    """Each step's gate per adapter: 1 inside its [start, end], else 0."""
    last = train_steps - 1
    scales = []
    for t in timesteps.detach().float().cpu().tolist():
        row = []
        for use in uses:
            top = float("inf") if use.start <= 0 else (1 - use.start) * last
            bottom = 0.0 if use.end >= 1 else (1 - use.end) * last
            row.append(1.0 if bottom <= t <= top else 0.0)
        scales.append(row)
    return scales


@dataclass(eq=False)
class IPAdapterPatch:
    """Every IP-Adapter applied to one model: the converted attention processors (one entry
    per adapter in each) and projection layers, built once when applied."""

    uses: list[AdapterUse]
    processors: dict[str, Any]
    projections: list[Any]

    @contextlib.contextmanager
    def run(self, model: DiffusionModel, inputs: dict[str, Any], timesteps: torch.Tensor,
            cfg_batch: bool, batch: int) -> Iterator[Callable[[int], None]]:
        """Install into ``model.denoiser`` for one run, add the image embeddings to the
        denoiser ``inputs``, yield the per-step hook, then restore the UNet."""
        unet = getattr(model.denoiser, "original", model.denoiser)  # under a compiled wrapper
        parameter = next(unet.parameters())
        device, dtype = parameter.device, parameter.dtype
        original = unet.attn_processors
        old_projection, old_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
        swapped = {name: proc if isinstance(proc, torch.nn.Module) else original[name]
                   for name, proc in self.processors.items()}
        named = [(n, p) for n, p in swapped.items() if isinstance(p, torch.nn.Module)]
        ip_procs = [proc for _, proc in named]
        modules = [*ip_procs, *self.projections]
        names = [n for n, _ in named]
        sdxl = [is_sdxl_adapter(u.weights.ip_adapter) for u in self.uses]
        routes = [layer_routes(names, u.weight_type, x, u.alt is not None)
                  for u, x in zip(self.uses, sdxl, strict=True)]
        extra, row_factors, owners, per_layer = extra_token_sets(
            routes, [(u.embeds, u.negative, u.alt) for u in self.uses], batch, cfg_batch)
        embeds = []
        for use in self.uses:
            positive = use.embeds.repeat(batch, *[1] * (use.embeds.dim() - 1))
            if cfg_batch:
                negative = use.negative.repeat(batch, *[1] * (use.negative.dim() - 1))
                positive = torch.cat([negative, positive])
            embeds.append(positive.to(device=device, dtype=dtype))
        embeds += [e.to(device=device, dtype=dtype) for e in (*extra, *row_factors)]
        # ``inputs`` is this run's dict only: the loop builds it and drops it afterwards
        added = dict(inputs.get("added_cond_kwargs") or {})
        added["image_embeds"] = embeds
        inputs["added_cond_kwargs"] = added
        scales = _scale_schedule(self.uses, timesteps,
                                 int(model.scheduler_config.get("num_train_timesteps", 1000)))

        per_use = [layer_weights(names, u.weight_type, x, u.weight, u.composition)
                   for u, x in zip(self.uses, sdxl, strict=True)]
        factors = [[use_weights[name] for use_weights in per_use] for name in names]
        layered = owners or any(u.embeds_scaling != "V only" for u in self.uses)
        for name, proc in named:  # None: diffusers' own call
            proc.routes = per_layer[name] if owners else None
            proc.scaling = [u.embeds_scaling for u in self.uses] if layered else None
        masks = [_mask(u, dtype, device) for u in self.uses]
        if any(m is not None for m in masks):  # diffusers' ip_adapter_masks: [1, images, H, W]
            inputs["cross_attention_kwargs"] = {"ip_adapter_masks": masks}

        def before_step(index: int) -> None:
            for proc, layer in zip(ip_procs, factors, strict=True):
                proc.scale = [s * f for s, f in zip(scales[index], layer, strict=True)]

        # the float32 CPU weights, put back after a run elsewhere (no half-precision rounding
        # stays behind in the cached patch)
        moved = device.type != "cpu" or dtype != torch.float32
        masters = [dict(module.state_dict()) for module in modules] if moved else []
        if device.type != "cpu":  # the model cache makes room for the adapter's layers
            from pipelines.memory.cache import default_cache
            from pipelines.memory.networks import tensor_bytes

            default_cache().reserve(sum(tensor_bytes(modules).values()), device)
        try:
            for module in modules:
                module.to(device=device, dtype=dtype)
            unet.set_attn_processor(swapped)
            unet.encoder_hid_proj = RoutedProjection(self.projections, owners)
            unet.config.encoder_hid_dim_type = "ip_image_proj"
            yield before_step
        finally:  # the projection first: a plus projection has attention layers of its own
            unet.encoder_hid_proj = old_projection
            unet.config.encoder_hid_dim_type = old_type
            unet.set_attn_processor(dict(original))
            for module, state in zip(modules, masters, strict=False):
                module.to(device="cpu", dtype=torch.float32)  # off the accelerator between runs
                module.load_state_dict(state)


def _mask(use: AdapterUse, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    if use.mask is None:
        return None
    mask = use.mask if use.mask.dim() == 3 else use.mask.reshape(-1, *use.mask.shape[-2:])
    images = use.embeds.shape[1]
    mask = mask[:1].expand(images, -1, -1) if mask.shape[0] != images else mask
    return mask[None].to(device=device, dtype=dtype)


def _embed_width(weights: IPAdapterWeights) -> int:
    """The width of the image embeddings the adapter's projection takes."""
    key = {"plain": "proj.weight", "full": "proj.0.weight"}.get(weights.kind, "proj_in.weight")
    return int(weights.image_proj[key].shape[-1])


def apply_ip_adapter(model: DiffusionModel, use: AdapterUse) -> DiffusionModel:
    """A copy of ``model`` with the adapter added to its IP-Adapter patch (a second adapter
    stacks with the first, as diffusers' multi-adapter loading does). The input is unchanged.

    Raises:
        ValueError: the adapter does not fit this UNet (another model family's adapter) or
            the embeddings (another CLIP vision model), or is a Face ID adapter.
    """
    if use.weights.kind in ("faceid", "faceid_plus"):
        raise ValueError("Face ID adapters take InsightFace face embeddings, which the studio "
                         "does not compute; use a plain, plus or full-face IP-Adapter")
    expected = _embed_width(use.weights)
    if use.embeds.shape[-1] != expected:
        raise ValueError(f"The CLIP vision model gives embeddings {use.embeds.shape[-1]} wide but "
                         f"this IP-Adapter takes {expected}: pair it with the CLIP vision model "
                         "it was trained with")
    previous = next((p for p in model.patches if isinstance(p, IPAdapterPatch)), None)
    uses = [*(previous.uses if previous else []), use]
    unet = model.denoiser
    dicts = [{"image_proj": u.weights.image_proj, "ip_adapter": u.weights.ip_adapter}
             for u in uses]
    try:
        processors = unet._convert_ip_adapter_attn_to_diffusers(dicts, low_cpu_mem_usage=False)
        projections = [unet._convert_ip_adapter_image_proj_to_diffusers(
            d["image_proj"], low_cpu_mem_usage=False) for d in dicts]
    except (KeyError, RuntimeError) as exc:
        raise ValueError("This IP-Adapter does not fit the model (is it for another model "
                         f"family?): {str(exc).strip().splitlines()[0][:160]}") from None
    for projection in projections:
        projection.eval().requires_grad_(False)
    # only the IP-Adapter processors are kept, as layered ones (their layers shared)
    kept = {name: LayeredIPAdapterProcessor.of(proc).eval().requires_grad_(False)
            if isinstance(proc, torch.nn.Module) else None for name, proc in processors.items()}
    patch = IPAdapterPatch(uses, kept, projections)
    others = tuple(p for p in model.patches if not isinstance(p, IPAdapterPatch))
    return replace(model, patches=(*others, patch))


def with_adapter_use(weights: IPAdapterWeights, embeds: tuple[torch.Tensor, torch.Tensor],
                     weight: float, start: float, end: float, weight_type: str = "linear",
                     combine: str = "concat", mask: torch.Tensor | None = None,
                     embeds_scaling: str = "V only", composition: float = 1.0,
                     composition_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
                     ) -> AdapterUse:
    """An ``AdapterUse`` (``embeds``, ``composition_embeds``: ``encode_for_adapter``'s pairs;
    the images merged by ``combine``, see ``ip_adapter_weights``).

    Raises:
        ValueError: an unknown weight type, scaling or combine method, or a composition
            image the weight type or adapter cannot use.
    """
    layer_weights([], weight_type, False, weight)  # refuses unknown types now
    if embeds_scaling not in EMBEDS_SCALING:
        raise ValueError(f"embeds_scaling {embeds_scaling!r} is not one of "
                         f"{', '.join(EMBEDS_SCALING)}")
    alt = None
    if composition_embeds is not None:
        if not weight_type.endswith("style and composition"):
            raise ValueError("a composition image is read by the \"style and composition\" "
                             "weight types only")
        if not is_sdxl_adapter(weights.ip_adapter):
            raise ValueError("a composition image works with SDXL adapters only (as "
                             "IPAdapter_plus)")
        alt = combine_embeds(composition_embeds[0], composition_embeds[1], combine)[0]
    positive, negative = combine_embeds(embeds[0], embeds[1], combine)
    return AdapterUse(weights, positive, negative, weight, start, end, weight_type, mask,
                      embeds_scaling, composition, alt)
