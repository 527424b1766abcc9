"""The denoising loop: our own loop over the diffusers scheduler contract, matching the pipelines.

Per step: ``scale_model_input`` -> the denoiser on [uncond, cond] (called the way the model's
family says) -> classifier-free guidance ->
``scheduler.step`` -> optional inpainting blend -> ``callback``. With the same seed and settings
the result equals diffusers' StableDiffusionPipeline / Img2ImgPipeline output.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from pipelines.families import get_family
from pipelines.families.unet import batched as _batched
from pipelines.sampling.control import prepare_control
from pipelines.sampling.inpaint import inpaint_channels
from pipelines.sampling.noise import randn
from pipelines.sampling.patches import model_patches
from pipelines.sampling.regional import regional_run
from pipelines.sampling.samplers import (
    is_flow_config,
    make_scheduler,
    rescale_guidance,
    seed_noise_sampler,
)
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

if TYPE_CHECKING:
    from pipelines.sampling.image_condition import ImageCondition

StepCallback = Callable[[int, int, torch.Tensor], None]


def _same_length(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Long prompts have several token windows: repeat each side's windows up to the least
    common multiple so both halves of the CFG batch have one sequence length."""
    if a.shape[1] == b.shape[1]:
        return a, b
    length = math.lcm(a.shape[1], b.shape[1])
    return a.repeat(1, length // a.shape[1], 1), b.repeat(1, length // b.shape[1], 1)


def _prepare_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Resize a noise mask ([h,w], [B,h,w] or [B,1,h,w], any size) to [B or 1, 1, h, w]."""
    mask = mask.to(device=like.device, dtype=torch.float32)
    while mask.dim() < 4:
        mask = mask.unsqueeze(0 if mask.dim() < 3 else 1)
    if mask.shape[-2:] != like.shape[-2:]:
        mask = F.interpolate(mask, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return mask[:, :1].clamp(0, 1)


def _kept_latents(scheduler: Any, original: torch.Tensor, initial: torch.Tensor,
                  timesteps: torch.Tensor, begin: int) -> list[torch.Tensor]:
    """The unmasked area of a noise-masked latent after each step but the last: ``original``
    noised to the next timestep, computed before the loop (``scheduler.add_noise`` moves the
    schedule to the device and looks timesteps up on the host, a stream sync every step).

    Inside the loop diffusers' schedulers with a begin index take the noise level of
    ``add_noise`` from their step index (``begin + i + 1`` after step ``i``), so that state is
    set for each call and cleared after, as the loop expects it.
    """
    stateful = getattr(scheduler, "begin_index", None) is not None and hasattr(
        scheduler, "_step_index")
    kept = []
    try:
        for i in range(len(timesteps) - 1):
            if stateful:
                scheduler._step_index = begin + i + 1
            t = timesteps[i + 1 : i + 2]
            if hasattr(scheduler, "add_noise"):
                kept.append(scheduler.add_noise(original, initial, t))
            else:  # flow matching (SD3's inpaint pipeline): scale_noise(sample, t, noise)
                kept.append(scheduler.scale_noise(original, t, initial))
    finally:
        if stateful:
            scheduler._step_index = None
    return kept


def _predicted_x0(
    scheduler: Any, output: Any, model_output: torch.Tensor, sample: torch.Tensor, prediction: str,
    sigmas: torch.Tensor | None = None,
) -> torch.Tensor:
    """x0 for previews: the scheduler's own estimate when its step returns one, else from sigma.

    Called after ``step``, so the step's sigma is ``sigmas[step_index - 1]``. ``sigmas``: the
    schedule already on ``sample``'s device as float32 (moved once per run, not every step).
    """
    for name in ("pred_original_sample", "denoised"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    if sigmas is None:
        sigmas = scheduler.sigmas.to(sample.device, torch.float32)
    sigma = sigmas[scheduler.step_index - 1]
    if prediction == "flow_prediction" and not hasattr(scheduler, "_sigma_to_alpha_sigma_t"):
        return sample - sigma * model_output  # x = (1 - sigma) x0 + sigma eps, v = eps - x0
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t"):  # x = alpha x0 + sigma eps
        alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
        x = sample
    else:  # x = x0 + sigma eps; the model saw x / sqrt(sigma^2 + 1)
        alpha_t = (sigma**2 + 1) ** -0.5
        sigma_t, x = sigma * alpha_t, sample * alpha_t
    if prediction == "v_prediction":
        return alpha_t * x - sigma_t * model_output
    if prediction == "sample":
        return model_output
    if prediction == "flow_prediction":
        return sample - sigma_t * model_output
    return (x - sigma_t * model_output) / alpha_t


def denoise(
    model: DiffusionModel,
    positive: Conditioning,
    negative: Conditioning | None,
    latent: Latent,
    noise: Noise,
    *,
    sampler: str = "euler",
    schedule: str = "normal",
    steps: int = 20,
    cfg: float = 7.5,
    denoise: float = 1.0,
    device: str | torch.device = "cpu",
    callback: StepCallback | None = None,
    wants_x0: Callable[[int, int], bool] | None = None,
    image_condition: ImageCondition | None = None,
) -> Latent:
    """Run the sampler from noise (or from a noised latent) to a clean latent.

    ``denoise == 1``: start from ``noise * init_noise_sigma`` (the latent's content is ignored,
    except under a noise mask). ``denoise < 1`` follows diffusers' img2img convention:
    ``set_timesteps(steps)``, keep the last ``int(steps * denoise)`` steps and start from
    ``scheduler.add_noise(latent, noise, first_kept_timestep)``; with zero kept steps the latent
    comes back unchanged. Stochastic samplers draw per-step noise from the same generator(s)
    after the initial noise, exactly as the diffusers pipelines do. Guidance is
    ``uncond + cfg * (cond - uncond)``; the uncond pass is skipped only when ``cfg == 1``
    (diffusers skips it for every ``cfg <= 1``). With ``latent.noise_mask`` the area where the
    mask is 0 is reset after every step to the original latent noised to the next timestep;
    inpainting models (``model.inpainting``) instead get the mask and
    ``latent.masked_image_latents`` as extra UNet input channels (see ``pipelines.sampling.inpaint``).

    Args:
        model: The diffusion model.
        positive: Prompt conditioning (batch 1 or the latent's batch).
        negative: Negative conditioning; may be None when ``cfg == 1``.
        latent: Starting latent [B, C, h, w] in the scaled space (zeros for txt2img).
        noise: Seed and noise mode.
        sampler: A name from ``samplers.SAMPLERS``.
        schedule: A name from ``samplers.SCHEDULES`` (see ``samplers.schedules_for``).
        steps: Number of inference steps before ``denoise`` trimming.
        cfg: Classifier-free guidance scale.
        denoise: Strength in [0, 1].
        device: Where the UNet runs (the model must already be there).
        callback: ``callback(step_index, total_steps, x0)`` after every scheduler step, with the
            predicted clean latent on ``device``; ``total_steps`` counts scheduler steps (2n - 1
            for the second-order heun/dpm_2 samplers). An exception raised by it stops the loop
            and propagates (that is how cancelling works).
        wants_x0: ``wants_x0(step_index, total_steps)``: whether the callback wants the x0
            estimate at this step (previews are throttled); when False it gets ``None`` and the
            estimate is not computed. None: x0 at every step.
        image_condition: A low-resolution image concatenated to the input channels every
            step, with its noise level as class label (super-resolution stages; see
            ``pipelines.sampling.superres``).

    Denoisers with a learned variance (twice the sample's channels out, DeepFloyd IF) are
    guided on the noise half only, the conditional variance kept, as diffusers' IF pipelines
    do; the variance goes to the scheduler only if its ``variance_type`` is learned.

    Returns:
        A float32 CPU ``Latent`` (the input's noise mask is carried over).

    Raises:
        ValueError: Bad sampler/schedule/steps/denoise, mismatched batch sizes, or an
            inpainting model given a latent without mask and masked image.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not 0.0 <= denoise <= 1.0:
        raise ValueError(f"denoise must be between 0 and 1, got {denoise}")
    if image_condition is None and ({"image_noising_scheduler", "low_res_scheduler"}
                                    & set(model.schedulers)):
        raise ValueError("This model is a super-resolution stage: it needs the low-resolution "
                         "image (use the Super-Resolution Sampler)")
    do_cfg = cfg != 1.0
    if do_cfg and negative is None:
        raise ValueError("A negative conditioning is needed when cfg is not 1")
    scheduler = make_scheduler(sampler, schedule, model.scheduler_config)
    device = torch.device(device)
    original = latent.samples.to(device=device, dtype=torch.float32)
    batch = original.shape[0]

    family = get_family(model.family)
    scheduler.set_timesteps(steps, device=device,
                            **family.timestep_options(model, scheduler, tuple(original.shape), steps))
    begin = 0
    if denoise < 1.0:
        begin = (steps - min(int(steps * denoise), steps)) * scheduler.order
    timesteps = scheduler.timesteps[begin:]
    if len(timesteps) == 0:
        return Latent(samples=original.cpu(), noise_mask=latent.noise_mask,
                      masked_image_latents=latent.masked_image_latents, space=latent.space)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)

    generator = noise.generators(batch)
    concat, condition_inputs = None, {}
    if image_condition is not None and image_condition.noise_first:  # the x4 upscaler's order
        concat, condition_inputs = image_condition.prepare(generator, device, do_cfg)
    initial = randn(tuple(original.shape), generator).to(device)
    seed_noise_sampler(scheduler, noise, original)  # dpmpp_sde's Brownian tree: from our seed
    if denoise >= 1.0:
        x = initial * getattr(scheduler, "init_noise_sigma", 1.0)  # flow matching: none
    elif hasattr(scheduler, "add_noise"):
        x = scheduler.add_noise(original, initial, timesteps[:1].repeat(batch))
    else:  # flow-matching schedulers
        x = scheduler.scale_noise(original, timesteps[:1], initial)
    mask = None if latent.noise_mask is None else _prepare_mask(latent.noise_mask, original)
    # inpainting UNets take [mask, masked image] as input channels and are not blended
    # (diffusers' inpaint pipeline blends only for ordinary 4-channel UNets)
    extra = None if image_condition else inpaint_channels(model, latent, original, do_cfg)
    if extra is not None:
        mask = None
    if image_condition is not None and concat is None:  # after the initial noise, as in IF
        concat, condition_inputs = image_condition.prepare(generator, device, do_cfg)

    embeds = _batched(positive.embeds, batch, "positive conditioning")
    if do_cfg:
        negative_embeds = _batched(negative.embeds, batch, "negative conditioning")
        negative_embeds, embeds = _same_length(negative_embeds, embeds)
        embeds = torch.cat([negative_embeds, embeds])
    inputs = family.denoiser_inputs(model, embeds.to(device), positive, negative, x, do_cfg, cfg)
    inputs.update(condition_inputs)
    # combined / area / mask / step-range conditionings: one call per entry (regional.py)
    regions = regional_run(model, family, positive, negative, x, do_cfg, cfg, scheduler,
                           timesteps, family.timestep_options(model, scheduler, x.shape, steps))
    control = None if regions is not None else prepare_control(
        model, positive, negative, x, do_cfg, len(timesteps))  # ControlNets
    if control is not None:
        family.check_control(model)
    learned_variance = scheduler.config.get("variance_type") in ("learned", "learned_range")
    channels = x.shape[1]

    scale_input = hasattr(scheduler, "scale_model_input")
    step_params = inspect.signature(scheduler.step).parameters
    step_kwargs: dict[str, Any] = {}
    if "eta" in step_params:
        step_kwargs["eta"] = 0.0
    if "generator" in step_params:
        step_kwargs["generator"] = generator
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if is_flow_config(dict(scheduler.config)) or type(scheduler).__name__.startswith("FlowMatch"):
        prediction = "flow_prediction"
    total = len(timesteps)
    # Everything the steps need is made here, once: the loop itself asks no dtype (a walk over
    # every submodule in diffusers), moves nothing between devices and reads no tensor on the
    # host, so a GPU never waits for the Python side between steps.
    dtype = family.denoiser_dtype(model)
    if extra is not None:
        extra = extra.to(dtype)
    kept, keep = None, None
    if mask is not None:
        kept = _kept_latents(scheduler, original, initial, timesteps, begin) + [original]
        keep = 1 - mask
    sigmas = getattr(scheduler, "sigmas", None)  # for x0 estimates (DDIM & co. give theirs)
    if callback is not None and isinstance(sigmas, torch.Tensor):
        sigmas = sigmas.to(device, torch.float32)

    with model_patches(model, inputs, timesteps, do_cfg, batch) as before_step, \
            torch.inference_mode():
        for i, t in enumerate(timesteps):
            before_step(i)  # per-run patches (IP-Adapter scales by schedule range)
            # scaling is elementwise: scale the batch-1 input, cast once, then double it
            model_input = x if concat is None or not image_condition.scaled else torch.cat(
                [x, concat], dim=1)
            if scale_input:  # flow-matching schedulers have no input scaling
                model_input = scheduler.scale_model_input(model_input, t)
            if concat is not None and not image_condition.scaled:
                model_input = torch.cat([model_input, concat], dim=1)
            model_input = model_input.to(dtype)
            if do_cfg:
                model_input = torch.cat([model_input, model_input])
            if extra is not None:
                model_input = torch.cat([model_input, extra], dim=1)
            if regions is not None:  # one half in, (uncond, cond) out
                pair = regions.predict(i, t, model_input[:batch], inputs, dtype)
                model_output = torch.cat([p for p in pair if p is not None]).to(x.dtype)
            else:
                step_inputs = inputs if control is None else control.step_inputs(
                    i, model_input, t, inputs, dtype)
                model_output = family.call_denoiser(model, model_input, t, step_inputs).to(x.dtype)
            if do_cfg:
                uncond, cond = model_output.chunk(2)
                variance = cond[:, channels:]  # empty unless the variance is learned
                uncond, cond = uncond[:, :channels], cond[:, :channels]
                model_output = uncond + cfg * (cond - uncond)
                if model.guidance_rescale > 0:
                    model_output = rescale_guidance(model_output, cond, model.guidance_rescale)
                if variance.shape[1]:
                    model_output = torch.cat([model_output, variance], dim=1)
            if not learned_variance:
                model_output = model_output[:, :channels]
            sample = x
            output = scheduler.step(model_output, t, sample, **step_kwargs)
            x = output.prev_sample
            if kept is not None:
                x = keep * kept[i] + mask * x
            if callback is not None:
                x0 = None
                if wants_x0 is None or wants_x0(i, total):
                    x0 = _predicted_x0(scheduler, output, model_output, sample, prediction,
                                       sigmas)
                    if keep is not None:
                        x0 = keep * original + mask * x0
                callback(i, total, x0)
    # a normal tensor (not an inference one), so later nodes may change it in place
    samples = x.to(device="cpu", dtype=torch.float32)
    if samples.is_inference():
        samples = samples.clone()
    return Latent(samples=samples, noise_mask=latent.noise_mask,
                  masked_image_latents=latent.masked_image_latents, space=model.family)
