"""The denoising loop: our own loop over the diffusers scheduler contract, matching the pipelines.

Per step: ``scale_model_input`` -> the denoiser on [uncond, cond] (called the way the model's
family says) -> classifier-free guidance ->
``scheduler.step`` -> optional inpainting blend -> ``callback``. With the same seed and settings
the result equals diffusers' StableDiffusionPipeline / Img2ImgPipeline output.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from pipelines.families import get_family
from pipelines.sampling import explicit_sigmas, schedules
from pipelines.sampling.gligen import grounding_patches
from pipelines.sampling.guidance import DualCFG, Guidance
from pipelines.sampling.inpaint import inpaint_channels
from pipelines.sampling.masking import differential_masks
from pipelines.sampling.masking import kept_latents as _kept_latents
from pipelines.sampling.masking import prepare_mask as _prepare_mask
from pipelines.sampling.noise import batch_randn, step_generators
from pipelines.sampling.patches import model_patches
from pipelines.sampling.regional import regional_run
from pipelines.sampling.samplers import TABLE_SCHEDULES, finite_final_sigma, is_flow_config
from pipelines.sampling.sde_noise import seed_noise_sampler
from pipelines.sampling.x0 import predicted_x0 as _predicted_x0
from pipelines.values import Conditioning, DiffusionModel, Latent, Noise

if TYPE_CHECKING:
    from pipelines.sampling.image_condition import ImageCondition

__all__ = ["DualCFG", "StepCallback", "_kept_latents", "_predicted_x0", "denoise"]

StepCallback = Callable[[int, int, torch.Tensor], None]


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
    sigmas: explicit_sigmas.SigmaRun | None = None,
    add_noise: bool = True,
    dual: DualCFG | None = None,
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
        sigmas: Explicit sigmas (ComfyUI's custom sampling, KSamplerAdvanced's step range):
            ``schedule``, ``steps`` and ``denoise`` are then not used; ``ddim`` runs as euler.
        add_noise: False: the latent is sampled as it is (it carries leftover noise).
        dual: A middle conditioning for dual CFG (see ``pipelines.sampling.guidance``).

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
    if cfg != 1.0 and negative is None:
        raise ValueError("A negative conditioning is needed when cfg is not 1")
    device = torch.device(device)
    original = latent.samples.to(device=device, dtype=torch.float32)
    batch = original.shape[0]
    shape = tuple(original.shape)
    if sigmas is None and schedule in TABLE_SCHEDULES:  # ComfyUI's, from the model's sigmas
        sigmas = schedules.advanced_run(model, sampler, schedule, steps, 0, steps, False, shape,
                                        denoise)
    if sigmas is not None:
        sampler = explicit_sigmas.sampler_on_sigmas(sampler)
    family = get_family(model.family)
    scheduler = family.make_scheduler(sampler, schedule, model.scheduler_config)
    begin = 0
    if sigmas is not None:
        explicit_sigmas.check_installable(scheduler, sampler)
        options = family.timestep_options(model, scheduler, shape, max(sigmas.steps, 1))
        if sigmas.steps:
            explicit_sigmas.install(scheduler, sigmas, device, options)
        timesteps = scheduler.timesteps[:0] if not sigmas.steps else scheduler.timesteps
    else:
        lcm = schedules.lcm_timesteps(schedule, steps, model.scheduler_config) if \
            sampler == "lcm" else None
        if lcm is not None:
            scheduler.set_timesteps(device=device, timesteps=lcm)
        else:
            scheduler.set_timesteps(steps, device=device,
                                    **family.timestep_options(model, scheduler, shape, steps))
        if denoise < 1.0:
            begin = (steps - min(int(steps * denoise), steps)) * scheduler.order
        timesteps = scheduler.timesteps[begin:]
    finite_final_sigma(scheduler)  # unipc_bh1: ComfyUI's last sigma, not diffusers' NaN
    if len(timesteps) == 0:
        return Latent(samples=original.cpu(), noise_mask=latent.noise_mask,
                      masked_image_latents=latent.masked_image_latents, space=latent.space)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)

    generator = noise.generators(batch)
    do_cfg = cfg != 1.0 or dual is not None
    concat, condition_inputs = None, {}
    if image_condition is not None and image_condition.noise_first:  # the x4 upscaler's order
        concat, condition_inputs = image_condition.prepare(generator, device, do_cfg)
    seeded = family.seeded_inputs(model, positive, negative, generator, batch, do_cfg, device)
    initial = batch_randn(shape, generator, latent.batch_index).to(device)
    seed_noise_sampler(scheduler, noise, original)  # dpmpp_sde's Brownian tree: from our seed
    if sigmas is not None:  # ComfyUI's split sampling: noise may be off (the latent has its own)
        x = explicit_sigmas.start_sample(scheduler, sigmas, original,
                                         initial if add_noise else None)
    elif denoise >= 1.0:
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

    # Everything the steps need is made here, once: the loop itself asks no dtype (a walk over
    # every submodule in diffusers), moves nothing between devices and reads no tensor on the
    # host, so a GPU never waits for the Python side between steps.
    dtype = family.denoiser_dtype(model)
    learned_variance = scheduler.config.get("variance_type") in ("learned", "learned_range")
    guidance = Guidance(model, family, positive, negative if do_cfg else None, cfg, x,
                        len(timesteps), dtype, {**condition_inputs, **seeded}, extra,
                        learned_variance, dual)
    # combined / area / mask / step-range conditionings: one call per entry (regional.py)
    guidance.regions = regional_run(model, family, positive, negative, x, guidance.main.do_cfg,
                                    cfg, scheduler, timesteps,
                                    family.timestep_options(model, scheduler, shape, steps))
    if guidance.regions is not None and dual is not None:
        raise ValueError("Dual CFG takes plain conditionings only (no areas, masks, step ranges "
                         "or combined prompts); use a CFG Guider for those")

    scale_input = hasattr(scheduler, "scale_model_input")
    step_params = inspect.signature(scheduler.step).parameters
    step_kwargs: dict[str, Any] = {}
    if "eta" in step_params:
        step_kwargs["eta"] = 0.0
    if "generator" in step_params:  # per-step noise; A1111's ENSD reseeds it (Noise)
        step_kwargs["generator"] = step_generators(noise.seed, noise.mode,
                                                   noise.step_seed_delta, batch, generator)
    prediction = scheduler.config.get("prediction_type", "epsilon")
    if is_flow_config(dict(scheduler.config)) or type(scheduler).__name__.startswith("FlowMatch"):
        prediction = "flow_prediction"
    total = len(timesteps)
    kept, keep, step_masks = None, None, None
    if mask is not None:
        kept = _kept_latents(scheduler, original, initial, timesteps, begin) + [original]
        keep = 1 - mask
        if model.differential_diffusion is not None:  # one thresholded mask per step
            step_masks = differential_masks(mask, timesteps, model.differential_diffusion)
    schedule_sigmas = getattr(scheduler, "sigmas", None)  # x0 estimates (DDIM & co. give theirs)
    if callback is not None and isinstance(schedule_sigmas, torch.Tensor):
        schedule_sigmas = schedule_sigmas.to(device, torch.float32)

    residual = image_condition.residual(device) if image_condition is not None else None
    grounding = grounding_patches(positive, negative if guidance.main.do_cfg else None, x)
    with model_patches(model, guidance.inputs, timesteps, guidance.main.do_cfg, batch,
                       grounding) as before_step, torch.inference_mode():
        guidance.hooks = before_step  # call wrappers (the Step Cache) on the main pass
        for i, t in enumerate(timesteps):
            before_step(i)  # per-run patches (IP-Adapter scales by schedule range)
            # scaling is elementwise: scale the batch-1 input, cast once, then double it
            model_input = x if concat is None or not image_condition.scaled else torch.cat(
                [x, concat], dim=1)
            if scale_input:  # flow-matching schedulers have no input scaling
                model_input = scheduler.scale_model_input(model_input, t)
            if concat is not None and not image_condition.scaled:
                model_input = torch.cat([model_input, concat], dim=1)
            model_output = guidance.predict(model_input.to(dtype), t, i)
            if residual is not None:  # a residual super-resolution stage: x0 = input + r / s
                model_output = torch.add(residual[0], model_output, alpha=residual[1])
            sample = x
            output = scheduler.step(model_output, t, sample, **step_kwargs)
            x = output.prev_sample
            if step_masks is not None:
                x = (1 - step_masks[i]) * kept[i] + step_masks[i] * x
            elif kept is not None:
                x = keep * kept[i] + mask * x
            if callback is not None:
                x0 = None
                if wants_x0 is None or wants_x0(i, total):
                    x0 = _predicted_x0(scheduler, output, model_output, sample, prediction,
                                       schedule_sigmas)
                    if keep is not None:
                        x0 = keep * original + mask * x0
                callback(i, total, x0)
    if sigmas is not None:
        x = explicit_sigmas.end_sample(scheduler, sigmas, x)
    # a normal tensor (not an inference one), so later nodes may change it in place
    samples = x.to(device="cpu", dtype=torch.float32)
    if samples.is_inference():
        samples = samples.clone()
    return Latent(samples=samples, noise_mask=latent.noise_mask,
                  masked_image_latents=latent.masked_image_latents, space=model.family,
                  batch_index=latent.batch_index)
