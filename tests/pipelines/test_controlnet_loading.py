"""ControlNet files: original-layout (.safetensors, weights-only .pth) and diffusers-layout single
files load to the same network as their folder; detection from the header; clear errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.errors import ModelLoadError, StudioError
from pipelines.loading.controlnet import load_controlnet
from pipelines.loading.detect import detect


@pytest.fixture(scope="module")
def folder(tiny_dir, tmp_path_factory):
    from pipelines.testing.tiny_control import build_tiny_controlnet

    return build_tiny_controlnet(tiny_dir, tmp_path_factory.mktemp("cn-files") / "cn", seed=7)


@pytest.fixture(scope="module")
def reference(folder):
    return load_controlnet(folder)


def _state(control) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in control.network.state_dict().items()}


def _same(a, b) -> None:
    sa, sb = a.network.state_dict(), b.network.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    for key in ("block_out_channels", "down_block_types", "cross_attention_dim", "layers_per_block",
                "attention_head_dim", "conditioning_embedding_out_channels", "in_channels",
                "use_linear_projection", "mid_block_type", "addition_embed_type"):
        assert a.network.config[key] == b.network.config[key], key


def _same_output(a, b) -> None:
    g = torch.Generator().manual_seed(0)
    x, hint = torch.randn(1, 4, 8, 8, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    text = torch.randn(1, 5, 32, generator=g)
    with torch.no_grad():
        da, ma = a.network(x, 10, encoder_hidden_states=text, controlnet_cond=hint,
                           return_dict=False)
        db, mb = b.network(x, 10, encoder_hidden_states=text, controlnet_cond=hint,
                           return_dict=False)
    # same weights and config; the folder's tensors come memory-mapped, ours copied, so CPU
    # kernels may sum in another order: equal to float32 rounding
    assert max((p - q).abs().max().item() for p, q in zip([*da, ma], [*db, mb], strict=True)) <= 1e-5


def test_original_layout_safetensors_equals_the_folder(reference, tmp_path):
    from pipelines.testing.tiny_control import original_layout

    path = tmp_path / "control_tiny.safetensors"
    save_file(original_layout(_state(reference)), str(path))
    loaded = load_controlnet(path)
    _same(loaded, reference)
    _same_output(loaded, reference)
    assert detect(path).kind == "controlnet"
    assert "original" in detect(path).note


def test_original_layout_pth_without_prefix_loads_weights_only(reference, tmp_path):
    from pipelines.testing.tiny_control import original_layout

    state = {k.removeprefix("control_model."): v
             for k, v in original_layout(_state(reference)).items()}
    path = tmp_path / "control_tiny.pth"
    torch.save({"state_dict": state}, path)
    _same_output(load_controlnet(path), reference)


def test_diffusers_layout_single_file_equals_the_folder(reference, tmp_path):
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file(_state(reference), str(path))
    loaded = load_controlnet(path)  # config read off the shapes
    _same(loaded, reference)
    _same_output(loaded, reference)
    assert detect(path).kind == "controlnet"


def test_folder_detection_and_a_model_folder_with_controlnet_inside(folder, tmp_path):
    assert detect(folder).kind == "controlnet"
    outer = tmp_path / "pipeline"
    (outer / "controlnet").mkdir(parents=True)
    for file in folder.iterdir():
        (outer / "controlnet" / file.name).write_bytes(file.read_bytes())
    assert load_controlnet(outer).kind == "controlnet"


@pytest.mark.parametrize(("state", "message"), [
    ({"weight": torch.zeros(2)}, "Not a ControlNet"),
    ({"difference": torch.zeros(1), "control_model.input_hint_block.0.weight": torch.zeros(1)},
     "diff"),
    ({"control_model.input_hint_block.0.weight": torch.zeros(1),
      "control_model.strange.key": torch.zeros(1)}, "unexpected"),
])
def test_bad_files_name_the_file(tmp_path, state, message):
    path = tmp_path / "broken_cn.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelLoadError, match=message) as info:
        load_controlnet(path)
    assert "broken_cn.safetensors" in str(info.value)


def test_missing_path_and_wrong_folder(tmp_path, tiny_dir):
    with pytest.raises(ModelLoadError, match="No such file"):
        load_controlnet(tmp_path / "nope.safetensors")
    with pytest.raises(ModelLoadError, match="not a ControlNetModel"):
        load_controlnet(tiny_dir / "unet")


def test_a_controlnet_of_another_width_is_refused_before_sampling(tiny, prompts, tiny_sdxl_dir,
                                                                  tmp_path):
    from pipelines.sampling.control import apply_control
    from pipelines.sampling.denoise import denoise
    from pipelines.testing.tiny_control import build_tiny_controlnet
    from pipelines.values import Latent, Noise

    xl = load_controlnet(build_tiny_controlnet(tiny_sdxl_dir, tmp_path / "xl"))
    positive, negative = apply_control(*prompts, xl, torch.rand(1, 32, 32, 3))
    with pytest.raises(StudioError, match="another model family"):
        denoise(tiny[0], positive, negative, Latent(torch.zeros(1, 4, 16, 16)), Noise(0),
                steps=2)
