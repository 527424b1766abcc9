"""T2I-Adapter single files (TencentARC's original layout, light adapters, diffusers' layout)
equal their folders, the config read off real adapters' shapes, and SDXL adapter parity with
StableDiffusionXLAdapterPipeline (max abs diff <= 1e-5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pipelines.errors import ModelLoadError
from pipelines.sampling.control import apply_control
from tests.pipelines.test_t2i_adapter import PROMPT, STEPS, TOL, hint_image


def _same(loaded: torch.nn.Module, reference: torch.nn.Module) -> None:
    ours, theirs = loaded.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())


def _adapter(tmp_path: Path, **config) -> torch.nn.Module:
    from diffusers import T2IAdapter

    from pipelines.testing.tiny_control import build_tiny_t2i_adapter

    if not config:
        return T2IAdapter.from_pretrained(build_tiny_t2i_adapter(tmp_path / "folder"))
    torch.manual_seed(0)
    return T2IAdapter(**config)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_original_layout_equals_its_folder(tmp_path, suffix):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import original_t2i_layout

    reference = _adapter(tmp_path)
    state = {k: v.contiguous() for k, v in original_t2i_layout(reference.state_dict()).items()}
    assert not any(k.startswith("adapter.") for k in state)
    path = tmp_path / f"t2iadapter_canny_tiny{suffix}"
    if suffix == ".pth":
        torch.save({"adapter": state}, path)  # some releases wrap it, as ComfyUI reads them
    else:
        save_file(state, str(path))
    loaded = load_controlnet(path)
    assert loaded.kind == "t2i_adapter"
    assert loaded.network.config.adapter_type == "full_adapter"
    assert loaded.network.config.downscale_factor == 2
    _same(loaded.network, reference)


def test_light_adapter_original_layout(tmp_path):
    from pipelines.loading.controlnet import load_controlnet

    reference = _adapter(tmp_path, in_channels=3, channels=[32, 64], num_res_blocks=2,
                         downscale_factor=2, adapter_type="light_adapter")
    state = {k.removeprefix("adapter.").replace(".resnets.", ".body."): v.contiguous()
             for k, v in reference.state_dict().items()}
    save_file(state, str(tmp_path / "t2iadapter_color_tiny.safetensors"))
    loaded = load_controlnet(tmp_path / "t2iadapter_color_tiny.safetensors")
    assert loaded.network.config.adapter_type == "light_adapter"
    _same(loaded.network, reference)


@pytest.mark.parametrize(("kind", "hint", "factor"), [
    ("full_adapter", 3, 8), ("full_adapter", 1, 8), ("full_adapter_xl", 3, 16),
    ("full_adapter_xl", 1, 16)])
def test_config_of_released_adapter_shapes(kind, hint, factor):
    """Shapes of the released SD 1.4 / SDXL adapters (built on the meta device: no memory)."""
    from diffusers import T2IAdapter

    from pipelines.loading.t2i_adapter_file import _config, _original_to_diffusers
    from pipelines.testing.tiny_control import original_t2i_layout

    with torch.device("meta"):
        net = T2IAdapter(in_channels=hint, adapter_type=kind, downscale_factor=factor)
    state = _original_to_diffusers(original_t2i_layout(net.state_dict()))
    assert state.keys() == net.state_dict().keys()
    config = _config(state, Path("x.pth"))
    assert config == {"in_channels": hint, "channels": [320, 640, 1280, 1280],
                      "num_res_blocks": 2, "downscale_factor": factor, "adapter_type": kind}


def test_conv_downsampling_original_is_refused(tmp_path):
    from pipelines.loading.controlnet import load_controlnet
    from pipelines.testing.tiny_control import original_t2i_layout

    state = original_t2i_layout(_adapter(tmp_path).state_dict())
    state["body.2.down_opt.op.weight"] = torch.zeros(64, 32, 3, 3)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "conv.safetensors"))
    with pytest.raises(ModelLoadError, match="downsamples with convolutions"):
        load_controlnet(tmp_path / "conv.safetensors")


def test_sdxl_adapter_matches_pipeline_and_its_single_file(tiny_sdxl, tiny_sdxl_dir, tmp_path):
    from diffusers import StableDiffusionXLAdapterPipeline, T2IAdapter

    from pipelines.loading.controlnet import load_controlnet
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.samplers import make_scheduler
    from pipelines.testing.tiny_control import build_tiny_t2i_adapter
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = tiny_sdxl
    folder = build_tiny_t2i_adapter(tmp_path / "xl", seed=2, xl=True)
    pipe = StableDiffusionXLAdapterPipeline.from_pretrained(
        tiny_sdxl_dir, adapter=T2IAdapter.from_pretrained(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler("euler", "normal", model.scheduler_config)
    hint = hint_image(5)
    reference = pipe(PROMPT, negative_prompt="", image=hint.permute(0, 3, 1, 2).contiguous(),
                     num_inference_steps=STEPS, guidance_scale=5.0, height=32, width=32,
                     adapter_conditioning_scale=0.8, adapter_conditioning_factor=0.5,
                     output_type="latent", generator=torch.Generator().manual_seed(5)).images
    positive, negative = encode_text(clip, PROMPT), encode_text(clip, "")

    def ours(adapter):
        cond = apply_control(positive, negative, adapter, hint, 0.8, 0.0, 0.5)
        return denoise(model, *cond, Latent(torch.zeros(1, 4, 16, 16)), Noise(5),
                       sampler="euler", steps=STEPS, cfg=5.0).samples

    result = ours(load_controlnet(folder))
    assert (result - reference).abs().max().item() <= TOL
    plain = denoise(model, positive, negative, Latent(torch.zeros(1, 4, 16, 16)), Noise(5),
                    sampler="euler", steps=STEPS, cfg=5.0).samples
    assert (result - plain).abs().max().item() > 1e-3
    # the same adapter as one diffusers-layout file with its config.json beside it
    single = tmp_path / "single"
    single.mkdir()
    (single / "config.json").write_text((folder / "config.json").read_text())
    network = T2IAdapter.from_pretrained(folder)
    save_file(network.state_dict(), str(single / "t2i-adapter-xl.safetensors"))
    loaded = load_controlnet(single / "t2i-adapter-xl.safetensors")
    assert loaded.network.config.adapter_type == "full_adapter_xl"
    assert torch.equal(ours(loaded), result)


def test_gray_sketch_adapter_gets_the_mean_of_the_hint(tmp_path):
    from pipelines.sampling.control import prepare_control
    from pipelines.values import Conditioning, ControlNet

    net = _adapter(tmp_path, in_channels=1, channels=[32, 64], num_res_blocks=2,
                   downscale_factor=2, adapter_type="full_adapter").eval()
    hint = hint_image(6)
    model = type("M", (), {"vae_scale_factor": 2})()
    positive, _ = apply_control(Conditioning(torch.zeros(1, 4, 32)), None,
                                ControlNet(net, "t2i_adapter", "sketch"), hint)
    run = prepare_control(model, positive, None, torch.zeros(1, 4, 16, 16), False, 4)
    with torch.no_grad():
        expected = net(hint.permute(0, 3, 1, 2).mean(dim=1, keepdim=True))
    assert all(torch.equal(a, b) for a, b in zip(run.active[0].features, expected, strict=True))
