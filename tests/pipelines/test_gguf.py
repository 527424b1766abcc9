"""GGUF transformer files (ComfyUI-GGUF's layout: BFL tensor names, Q8_0 blocks for the big
matrices, F32 for the rest), written here with the ``gguf`` package: detected from the header,
listed in the diffusion_models folder, loaded through Load Diffusion Model's reader (kept
quantized, see test_gguf_quantized.py) to weights equal to the source within Q8_0's rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("gguf")


def write_gguf(state: dict[str, torch.Tensor], path: Path, quantize: bool) -> Path:
    """A GGUF file of ``state``: 2-D tensors whose rows are whole Q8_0 blocks quantized,
    every other tensor F32 (as the ComfyUI-GGUF converter leaves biases and norms)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="flux")
    for name, tensor in state.items():
        data = tensor.detach().float().contiguous().numpy()
        if quantize and data.ndim == 2 and data.shape[1] % 32 == 0:
            qtype = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def transformer():
    from pipelines.testing.tiny_flux import build_transformer

    return build_transformer(guidance=True, seed=3)


@pytest.fixture(scope="module")
def bfl(transformer):
    from pipelines.loading.flux_convert import diffusers_to_bfl

    return diffusers_to_bfl({k: v.detach().clone() for k, v in transformer.state_dict().items()})


def test_an_f32_gguf_loads_to_exactly_the_source_weights(transformer, bfl, tmp_path):
    from pipelines.families import get_family
    from pipelines.loading.detect import detect

    path = write_gguf(bfl, tmp_path / "flux1-dev-F32.gguf", quantize=False)
    assert detect(path).describe().startswith("unet flux_dev")
    model = get_family("flux_dev").load_denoiser_file(path, "float32")
    ours, ref = model.denoiser.state_dict(), transformer.state_dict()
    assert sorted(ours) == sorted(ref)
    for key, value in ref.items():
        assert torch.equal(ours[key], value), key


def test_a_q8_gguf_dequantizes_within_its_rounding_and_runs_from_the_node(
        transformer, bfl, tmp_path, monkeypatch):
    from pipelines.loading.folders import scan
    from pipelines.loading.gguf_model import plain_weight
    from pipelines.loading.model_parts import load_diffusion_model_cached

    folder = tmp_path / "diffusion_models"
    folder.mkdir()
    path = write_gguf(bfl, folder / "flux1-dev-Q8_0.gguf", quantize=True)
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "none.toml"))
    assert [p.name for p in scan("diffusion_models")] == ["flux1-dev-Q8_0.gguf"]
    model = load_diffusion_model_cached(path, "default")  # float32 on the CPU
    ours, ref = model.denoiser.state_dict(), transformer.state_dict()
    q = plain_weight(model.denoiser.get_submodule("transformer_blocks.0.attn.to_q"))
    exact = ref["transformer_blocks.0.attn.to_q.weight"]
    error = (q.float() - exact).abs().max().item()
    print(f"Q8_0 max abs weight error: {error} (weights up to {exact.abs().max().item():.3f})")
    assert 0 < error <= exact.abs().max().item() / 100  # 8-bit blocks: under 1% of the range
    assert torch.equal(ours["norm_out.linear.bias"].float(), ref["norm_out.linear.bias"])


def test_a_damaged_gguf_is_one_clear_line(tmp_path):
    from pipelines.errors import ModelLoadError
    from pipelines.loading.detect import detect

    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    with pytest.raises(ModelLoadError, match="broken.gguf.*Not a readable GGUF file"):
        detect(path)
