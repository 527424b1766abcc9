"""Hypernetworks (A1111 .pt files, ComfyUI's HypernetworkLoader): read weights-only, applied
to every attention layer of a matching input width as to_k(x + mlp_k(x) * strength) (and
v), on a structural copy; the cached model is unchanged; hostile files refused in one line."""

from __future__ import annotations

import pickle

import pytest
import torch

from pipelines.errors import ModelLoadError
from pipelines.loading.hypernetwork import read_hypernetwork, with_hypernetwork
from pipelines.values import Latent, Noise


def _mlp_state(width: int, g: torch.Generator, layer_norm: bool) -> dict[str, torch.Tensor]:
    """A1111's layout, layer structure [1, 2, 1]: linear.0 (w -> 2w), then with layer norms
    a norm after every linear (A1111 numbers activations too, so the indices skip)."""
    layers = [("linear", width, 2 * width), ("linear", 2 * width, width)]
    state, index = {}, 0
    for _kind, inner, out in layers:
        state[f"linear.{index}.weight"] = torch.randn(out, inner, generator=g) * 0.1
        state[f"linear.{index}.bias"] = torch.randn(out, generator=g) * 0.1
        index += 2  # the activation's slot
        if layer_norm:
            state[f"linear.{index}.weight"] = torch.rand(out, generator=g) + 0.5
            state[f"linear.{index}.bias"] = torch.randn(out, generator=g) * 0.1
            index += 1
    return state


def write_hypernetwork(path, widths, layer_norm=False, activation="relu"):
    g = torch.Generator().manual_seed(3)
    data = {w: [_mlp_state(w, g, layer_norm), _mlp_state(w, g, layer_norm)] for w in widths}
    data |= {"activation_func": activation, "is_layer_norm": layer_norm, "use_dropout": True,
             "activate_output": False, "name": "tiny", "step": 100}
    torch.save(data, path)
    return path, data


def _attention_widths(model) -> set[int]:
    return {m.to_k.in_features for m in model.denoiser.modules()
            if isinstance(getattr(m, "to_k", None), torch.nn.Linear)}


@pytest.mark.parametrize("layer_norm", [False, True])
def test_every_matching_attention_sees_the_mlps(tiny, tmp_path, layer_norm):
    model = tiny[0]
    widths = sorted(_attention_widths(model))
    path, data = write_hypernetwork(tmp_path / "h.pt", widths[:2], layer_norm)
    patched = with_hypernetwork(model, read_hypernetwork(path), 0.7, str(path))
    base_modules = dict(model.denoiser.named_modules())
    checked = 0
    for name, module in patched.denoiser.named_modules():
        base = base_modules.get(name)
        if base is None or not isinstance(getattr(base, "to_k", None), torch.nn.Linear):
            continue
        width = base.to_k.in_features
        x = torch.randn(1, 5, width)
        if width not in data:
            assert module.to_k is base.to_k
            continue
        key_mlp = read_hypernetwork(path)[width][0]
        with torch.no_grad():
            expected = base.to_k(x + key_mlp(x) * 0.7)
            assert torch.allclose(module.to_k(x), expected, atol=1e-6)
        checked += 1
    assert checked >= 2
    assert all(isinstance(m, torch.nn.Linear) for m in
               (getattr(m, "to_k", None) for m in model.denoiser.modules()) if m is not None)


def test_a_run_changes_and_strength_zero_is_the_model(tiny, prompts, tmp_path):
    from pipelines.sampling.denoise import denoise

    model = tiny[0]
    path, _ = write_hypernetwork(tmp_path / "h.pt", sorted(_attention_widths(model)))
    networks = read_hypernetwork(path)
    assert with_hypernetwork(model, networks, 0.0, "h") is model

    def run(m):
        return denoise(m, *prompts, Latent(samples=torch.zeros(1, 4, 8, 8)), Noise(1),
                       steps=2, cfg=5.0).samples

    before = run(model)
    assert (run(with_hypernetwork(model, networks, 1.0, "h")) - before).abs().max() > 1e-4
    assert torch.equal(run(model), before)  # the cached model is untouched


def test_hostile_and_foreign_files_are_one_line(tiny, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"768": Evil()}))
    with pytest.raises(ModelLoadError, match="evil.pt.*could run code"):
        read_hypernetwork(evil)
    path, _ = write_hypernetwork(tmp_path / "odd.pt", [768], activation="gelu-ish")
    with pytest.raises(ModelLoadError, match="Unsupported hypernetwork activation"):
        read_hypernetwork(path)
    foreign, _ = write_hypernetwork(tmp_path / "sdxl.pt", [2048])
    with pytest.raises(ModelLoadError, match="another model family"):
        with_hypernetwork(tiny[0], read_hypernetwork(foreign), 1.0, str(foreign))


def test_a_lora_after_the_hypernetwork_still_reaches_the_wrapped_projections(tiny, tmp_path):
    from pipelines.loading.lora import apply_lora

    model = tiny[0]
    path, _ = write_hypernetwork(tmp_path / "h.pt", sorted(_attention_widths(model)))
    hyper = with_hypernetwork(model, read_hypernetwork(path), 1.0, "h")
    name = next(n for n, m in model.denoiser.named_modules()
                if isinstance(getattr(m, "to_k", None), torch.nn.Linear))
    base = model.denoiser.get_submodule(f"{name}.to_k")
    down = torch.randn(2, base.in_features) * 0.1
    up = torch.randn(base.out_features, 2) * 0.1
    lora = {f"unet.{name}.to_k.lora_A.weight": down, f"unet.{name}.to_k.lora_B.weight": up}
    patched, _ = apply_lora(hyper, None, lora, 1.0, source="tiny LoRA")
    wrapped = patched.denoiser.get_submodule(f"{name}.to_k")
    assert torch.allclose(wrapped.projection.weight, base.weight + up @ down, atol=1e-6)
    assert torch.equal(hyper.denoiser.get_submodule(f"{name}.to_k").projection.weight,
                       base.weight)  # the hypernetwork model is untouched
