"""Hypernetworks (AUTOMATIC1111's ``.pt`` files; ComfyUI's HypernetworkLoader): for each
attention input width (320, 640, 768, 1280, ...) two small MLPs that change what the key and
value projections see: ``k = to_k(x + mlp_k(x) * strength)``, likewise for ``v``, in every
self- and cross-attention layer whose input has that width, as ComfyUI's attn1/attn2 patch
does. The patched denoiser is a structural copy (the cached model is unchanged).

The file is a pickle of plain data read weights-only: ``{width: [key_mlp_state,
value_mlp_state], "activation_func": ..., "is_layer_norm": ..., ...}``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import DiffusionModel

ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU, "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid, "softsign": torch.nn.Softsign, "mish": torch.nn.Mish,
}


def _mlp(state: dict[str, torch.Tensor], settings: dict[str, Any]) -> torch.nn.Sequential:
    """One A1111 hypernetwork MLP (linear layers, activations, layer norms; dropout is a
    training-time layer and left out, as it does nothing at inference)."""
    names = [k[:-len(".weight")] for k in state if k.endswith(".weight")]
    activation = ACTIVATIONS[settings["activation_func"]]
    layers: list[torch.nn.Module] = []
    i = 0
    while i < len(names):
        weight, bias = state[f"{names[i]}.weight"], state[f"{names[i]}.bias"]
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        linear.load_state_dict({"weight": weight, "bias": bias})
        layers.append(linear)
        last = i == len(names) - 1
        if settings["activation_func"] != "linear" and (not last or settings["activate_output"]):
            layers.append(activation())
        if settings["is_layer_norm"]:
            i += 1
            norm_weight = state[f"{names[i]}.weight"]
            norm = torch.nn.LayerNorm(norm_weight.shape[0])
            norm.load_state_dict({"weight": norm_weight, "bias": state[f"{names[i]}.bias"]})
            layers.append(norm)
        i += 1
    return torch.nn.Sequential(*layers).eval().requires_grad_(False)


def read_hypernetwork(path: str | Path) -> dict[int, tuple[torch.nn.Module, torch.nn.Module]]:
    """The key and value MLPs of a hypernetwork file, by input width.

    Raises:
        ModelLoadError: not a hypernetwork, an activation we do not know, damaged tensors,
            or a pickle that would run code.
    """
    from pipelines.loading.readers import load_pickle

    path = Path(path)
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ModelLoadError(path, "Not a hypernetwork (no dictionary inside).", hint="")
    settings = {"activation_func": data.get("activation_func", "linear"),
                "is_layer_norm": bool(data.get("is_layer_norm", False)),
                "activate_output": bool(data.get("activate_output", False))}
    if settings["activation_func"] not in ACTIVATIONS:
        raise ModelLoadError(path, f"Unsupported hypernetwork activation "
                             f"{settings['activation_func']!r} (known: {', '.join(ACTIVATIONS)}).",
                             hint="")
    networks: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}
    for key, pair in data.items():
        try:
            width = int(key)
        except (TypeError, ValueError):
            continue
        try:
            networks[width] = (_mlp(pair[0], settings), _mlp(pair[1], settings))
        except (KeyError, IndexError, TypeError, RuntimeError, AttributeError) as exc:
            raise ModelLoadError(path, f"The hypernetwork's width-{width} layers are damaged "
                                 f"({type(exc).__name__}: {exc}).", hint="") from None
    if not networks:
        raise ModelLoadError(path, "Not a hypernetwork (no layers by width).", hint="")
    return networks


class HypernetworkInput(torch.nn.Module):
    """A key/value projection whose input first goes through a hypernetwork MLP."""

    def __init__(self, projection: torch.nn.Module, mlp: torch.nn.Module, strength: float
                 ) -> None:
        super().__init__()
        self.projection, self.mlp, self.strength = projection, mlp, strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mlp = self.mlp.to(device=x.device, dtype=x.dtype)
        return self.projection(x + mlp(x) * self.strength)


def with_hypernetwork(model: DiffusionModel,
                      networks: dict[int, tuple[torch.nn.Module, torch.nn.Module]],
                      strength: float, source: str) -> DiffusionModel:
    """``model`` with the hypernetwork in every attention layer whose input width it has.

    Raises:
        ModelLoadError: no attention layer of this model has one of its widths.
    """
    from pipelines.structural_copy import shared_copy

    if strength == 0:
        return model
    denoiser = shared_copy(model.denoiser)
    patched = 0
    for module in denoiser.modules():
        to_k, to_v = getattr(module, "to_k", None), getattr(module, "to_v", None)
        if not isinstance(to_k, torch.nn.Linear) or not isinstance(to_v, torch.nn.Linear):
            continue
        pair = networks.get(to_k.in_features)
        if pair is None:
            continue
        module.to_k = HypernetworkInput(to_k, pair[0], strength)
        module.to_v = HypernetworkInput(to_v, pair[1], strength)
        patched += 1
    if not patched:
        raise ModelLoadError(source, f"No attention layer of this model takes the "
                             f"hypernetwork's widths ({', '.join(map(str, sorted(networks)))}): "
                             "it was made for another model family.", hint="")
    return dataclasses.replace(model, denoiser=denoiser, source=f"{model.source} + {source}")
