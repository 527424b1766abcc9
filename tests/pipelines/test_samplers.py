"""Sampler/schedule names -> fresh diffusers schedulers."""

from __future__ import annotations

import pytest

from pipelines.samplers import SAMPLERS, SCHEDULES, make_scheduler, schedules_for

REQUIRED = ("euler", "euler_ancestral", "heun", "dpmpp_2m", "ddim", "ddpm", "unipc", "lcm")


def test_names_cover_the_required_set_and_match_the_catalog():
    from pipelines.catalog import SAMPLER_NAMES, SCHEDULE_NAMES

    assert set(REQUIRED) <= set(SAMPLERS)
    assert {"normal", "karras"} <= set(SCHEDULES)
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
    for schedule in SCHEDULES:
        scheduler = make_scheduler("euler", schedule, model.scheduler_config)
        scheduler.set_timesteps(6)
        sigmas[schedule] = scheduler.sigmas
    assert scheduler.config.timestep_spacing == "trailing"
    for a in SCHEDULES:
        for b in SCHEDULES:
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


def test_unknown_names_list_the_valid_ones(tiny):
    model, _, _ = tiny
    with pytest.raises(ValueError, match="euler_ancestral"):
        make_scheduler("k_magic", "normal", model.scheduler_config)
    with pytest.raises(ValueError, match="karras"):
        make_scheduler("euler", "wobbly", model.scheduler_config)
    with pytest.raises(ValueError, match="sgm_uniform"):
        make_scheduler("euler_ancestral", "karras", model.scheduler_config)
    assert "karras" not in schedules_for("ddim") and schedules_for("lcm") == ("normal",)


def test_catalog_schedule_table_matches_what_diffusers_supports():
    from pipelines.catalog import SCHEDULES_FOR
    from pipelines.samplers import SAMPLERS, schedules_for

    assert {name: schedules_for(name) for name in SAMPLERS} == SCHEDULES_FOR
