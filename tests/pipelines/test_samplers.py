"""Sampler/schedule names -> fresh diffusers schedulers."""

from __future__ import annotations

import pytest
import torch

from pipelines.sampling.samplers import SAMPLERS, SCHEDULES, make_scheduler, schedules_for

# ComfyUI's names, in ComfyUI's order
REQUIRED = (
    "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2m",
    "dpmpp_2m_sde", "dpmpp_sde", "ddim", "ddpm", "unipc", "unipc_bh1", "deis", "lcm",
)  # fmt: skip
# ComfyUI's schedules taken from the model's sigmas (pipelines.sampling.schedules)
TABLE = ("simple", "ddim_uniform")


def test_names_cover_the_required_set_and_match_the_catalog():
    from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES

    assert SAMPLERS == REQUIRED
    assert SCHEDULES == ("normal", "karras", "exponential", "sgm_uniform", "beta", *TABLE)
    assert SAMPLERS == SAMPLER_NAMES and SCHEDULES == SCHEDULE_NAMES


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_and_supported_schedule_builds_and_runs(tiny, sampler):
    model, _, _ = tiny
    for schedule in schedules_for(sampler):
        scheduler = make_scheduler(sampler, schedule, model.scheduler_config)
        scheduler.set_timesteps(4)
        assert len(scheduler.timesteps) >= 4
        assert make_scheduler(sampler, schedule, model.scheduler_config) is not scheduler


def test_schedules_change_the_sigmas(tiny):
    model, _, _ = tiny
    sigmas = {}
    own = [s for s in SCHEDULES if s not in TABLE]  # the others do not touch the scheduler
    for schedule in own:
        scheduler = make_scheduler("euler", schedule, model.scheduler_config)
        scheduler.set_timesteps(6)
        sigmas[schedule] = scheduler.sigmas
        if schedule == "sgm_uniform":
            assert scheduler.config.timestep_spacing == "trailing"
    for a in own:
        for b in own:
            if a < b:
                assert not (sigmas[a] == sigmas[b]).all(), (a, b)


def test_sampler_specific_settings(tiny):
    model, _, _ = tiny
    config = model.scheduler_config | {"use_karras_sigmas": True}
    normal = make_scheduler("dpmpp_2m", "normal", config)
    assert normal.config.use_karras_sigmas is False  # "normal" means plain sigmas
    assert normal.config.algorithm_type == "dpmsolver++"
    assert (
        make_scheduler("dpmpp_2m_sde", "karras", config).config.algorithm_type == "sde-dpmsolver++"
    )
    assert type(make_scheduler("ddim", "normal", config)).__name__ == "DDIMScheduler"
    assert type(make_scheduler("lms", "karras", config)).__name__ == "LMSDiscreteScheduler"
    assert make_scheduler("lms", "karras", config).config.use_karras_sigmas is True
    assert make_scheduler("dpmpp_sde", "beta", config).config.use_beta_sigmas is True
    assert make_scheduler("dpmpp_sde", "normal", config).config.use_beta_sigmas is False


def test_unknown_names_list_the_valid_ones(tiny):
    model, _, _ = tiny
    with pytest.raises(ValueError, match="euler_ancestral"):
        make_scheduler("k_magic", "normal", model.scheduler_config)
    with pytest.raises(ValueError, match="karras"):
        make_scheduler("euler", "wobbly", model.scheduler_config)
    with pytest.raises(ValueError, match="sgm_uniform"):
        make_scheduler("euler_ancestral", "karras", model.scheduler_config)
    assert "karras" not in schedules_for("ddim") and schedules_for("lcm") == ("normal", "sgm_uniform")
    with pytest.raises(ValueError, match="beta"):
        make_scheduler("ddim", "beta", model.scheduler_config)


def test_catalog_schedule_table_matches_what_diffusers_supports():
    from pipelines.catalog import SCHEDULES_FOR
    from pipelines.sampling.samplers import SAMPLERS, schedules_for

    assert {name: schedules_for(name) for name in SAMPLERS} == SCHEDULES_FOR


def test_forward_schedule_honours_zero_terminal_snr(tiny):
    from diffusers import DDPMScheduler

    from pipelines.sampling.forward import NoiseSchedule, add_noise

    model, _, _ = tiny
    config = model.scheduler_config | {"rescale_betas_zero_snr": True}
    ours = NoiseSchedule.from_config(config)
    reference = DDPMScheduler.from_config(config)
    assert reference.config.rescale_betas_zero_snr is True
    assert torch.allclose(ours.alphas_cumprod, reference.alphas_cumprod, atol=1e-7, rtol=0)
    assert ours.alphas_cumprod[-1] == 0  # the last step is pure noise
    plain = NoiseSchedule.from_config(model.scheduler_config)
    assert abs(float(ours.alphas_cumprod[0] - plain.alphas_cumprod[0])) < 1e-6  # first step kept
    x0, eps = torch.ones(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    assert torch.allclose(add_noise(x0, eps, 999, ours), eps)


def test_sampling_config_overrides_without_touching_the_input():
    from diffusers import EulerDiscreteScheduler

    from pipelines.sampling.samplers import sampling_config

    # a config as diffusers saves it lists the keys left at their defaults; from_config would
    # silently reset those, so the overrides must come off that list
    base = dict(EulerDiscreteScheduler(beta_schedule="scaled_linear").config)
    assert "rescale_betas_zero_snr" in base["_use_default_values"]
    before = dict(base)
    config = sampling_config(base, prediction="v_prediction", zero_terminal_snr=True)
    assert base == before
    scheduler = make_scheduler("euler", "normal", config)
    assert scheduler.config.prediction_type == "v_prediction"
    assert scheduler.config.rescale_betas_zero_snr is True
    assert scheduler.config.timestep_spacing == "trailing"
    off = sampling_config(config, zero_terminal_snr=False)
    assert make_scheduler("euler", "normal", off).config.rescale_betas_zero_snr is False
    assert off["timestep_spacing"] == "leading"  # the trailing spacing went with zero SNR
    assert sampling_config(config) == config
    with pytest.raises(ValueError, match="v_prediction"):
        sampling_config(base, prediction="x0")


@pytest.mark.parametrize("sampler", ["heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_sde", "deis"])
def test_zero_snr_reaches_schedulers_without_the_flag(tiny, sampler):
    """diffusers' heun/dpm_2/lms/dpmpp_sde/deis ignore rescale_betas_zero_snr: they get the
    rescaled betas instead, giving the same noise levels as euler's own zero-SNR schedule."""
    from pipelines.sampling.samplers import sampling_config

    model, _, _ = tiny
    config = sampling_config(model.scheduler_config, zero_terminal_snr=True)
    euler = make_scheduler("euler", "normal", config)
    scheduler = make_scheduler(sampler, "normal", config)
    assert torch.allclose(scheduler.alphas_cumprod, euler.alphas_cumprod, atol=1e-6, rtol=0)
    for s in (euler, scheduler):
        s.set_timesteps(4)
    assert float(scheduler.sigmas[0]) == pytest.approx(float(euler.sigmas[0]), rel=1e-3)
    assert float(scheduler.sigmas[0]) > 1000  # sqrt((1 - 2**-24) / 2**-24) ~ 4096
    plain = make_scheduler(sampler, "normal", model.scheduler_config)
    plain.set_timesteps(4)
    assert float(plain.sigmas[0]) < 20


def test_rescale_guidance_is_diffusers_rescale_noise_cfg():
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

    from pipelines.sampling.samplers import rescale_guidance

    g = torch.Generator().manual_seed(0)
    guided, cond = torch.randn(2, 4, 8, 8, generator=g) * 3, torch.randn(2, 4, 8, 8, generator=g)
    for phi in (0.0, 0.7, 1.0):
        assert torch.equal(rescale_guidance(guided, cond, phi), rescale_noise_cfg(guided, cond, phi))
    out = rescale_guidance(guided, cond, 1.0)
    assert torch.allclose(out.std(dim=(1, 2, 3)), cond.std(dim=(1, 2, 3)), rtol=1e-5)


def test_with_sampling_rejects_a_rescale_out_of_range(tiny):
    from pipelines.sampling.samplers import with_sampling

    model, _, _ = tiny
    with pytest.raises(ValueError, match="between 0 and 1"):
        with_sampling(model, guidance_rescale=1.5)


@pytest.mark.parametrize(("markers", "prediction", "zsnr"), [
    (("v_pred", "ztsnr"), "v_prediction", True),
    (("v_pred",), "v_prediction", False),
    ((), "epsilon", False),
])  # fmt: skip
def test_single_file_marker_keys_set_prediction_and_zero_snr(
    tmp_path_factory, markers, prediction, zsnr
):
    """NoobAI-style checkpoints carry empty ``v_pred`` / ``ztsnr`` tensors (ComfyUI reads them)."""
    from safetensors.torch import load_file

    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.loading.convert import save_single_file
    from pipelines.testing.tiny_families import build_family

    tiny = _sd1_family(tmp_path_factory, build_family)
    state = load_file(tiny.file) | {key: torch.tensor([]) for key in markers}
    path = save_single_file(tmp_path_factory.mktemp("markers") / "noob.safetensors", state)
    model, _, _ = load_checkpoint(path)
    assert model.prediction_type == model.scheduler_config["prediction_type"] == prediction
    assert bool(model.scheduler_config.get("rescale_betas_zero_snr")) is zsnr
    scheduler = make_scheduler("euler", "normal", model.scheduler_config)
    assert scheduler.config.prediction_type == prediction
    assert (float(scheduler.alphas_cumprod[-1]) < 1e-6) is zsnr
    if zsnr:
        assert scheduler.config.timestep_spacing == "trailing"


_FAMILY: dict = {}


def _sd1_family(tmp_path_factory, build_family):
    if "sd1" not in _FAMILY:  # built once for the parametrized cases
        _FAMILY["sd1"] = build_family("sd1", tmp_path_factory.mktemp("sd1"))
    return _FAMILY["sd1"]
