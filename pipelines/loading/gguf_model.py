"""GGUF transformers kept quantized in memory: the Linear layers whose weights a GGUF file
stores quantized (Q8_0, Q4_K, ...) hold the file's blocks and dequantize them for each call,
as ComfyUI-GGUF does, so a Q8_0 Flux takes about half of its bfloat16 memory and a Q4 a
quarter. Everything else (norms, biases, embeddings, convolutions) is plain.

The weights are diffusers' ``GGUFParameter`` (raw blocks plus the quantization type); the
conversions from the original layouts only rename, split and join rows, which keeps them
quantized. Shapes for building configs come from ``shapes`` (the dequantized shapes)."""

from __future__ import annotations

from typing import Any

import torch


def is_quantized(tensor: Any) -> bool:
    """A GGUF weight still in its quantized blocks."""
    return hasattr(tensor, "quant_type") and hasattr(tensor, "quant_shape")


def any_quantized(state: dict[str, Any]) -> bool:
    return any(is_quantized(t) for t in state.values())


def shapes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every quantized tensor replaced by an empty (meta) tensor of its
    dequantized shape, for readers that build a config from tensor shapes."""
    return {k: torch.empty(tuple(v.quant_shape), device="meta") if is_quantized(v) else v
            for k, v in state.items()}


def dequantized(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A plain tensor of ``tensor``'s values in ``dtype`` (quantized blocks are expanded)."""
    if not is_quantized(tensor):
        return tensor.to(dtype)
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    return dequantize_gguf_tensor(tensor).as_subclass(torch.Tensor).to(dtype)


class QuantizedLinear(torch.nn.Linear):
    """A Linear whose weight may be GGUF blocks, dequantized to the input's dtype per call. A
    LoRA-patched copy may give it a plain weight, which is used as it is."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        weight = dequantized(self.weight, inputs.dtype)
        bias = self.bias.to(inputs.dtype) if self.bias is not None else None
        return torch.nn.functional.linear(inputs, weight, bias)


def prepare(model: torch.nn.Module, weights: dict[str, torch.Tensor], compute: torch.dtype
            ) -> dict[str, torch.Tensor]:
    """Swap ``model``'s Linear layers whose weights are quantized for ``QuantizedLinear`` (on
    the meta device, shaped as the blocks), and return the weights to load with
    ``load_state_dict(assign=True)``: quantized ones as they are, the rest fresh copies in
    ``compute`` (quantized weights of other layers dequantized)."""
    linear = {name for name, module in model.named_modules()
              if isinstance(module, torch.nn.Linear) and is_quantized(weights.get(f"{name}.weight"))}
    for name in linear:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = parent._modules[child]
        with torch.device("meta"):
            new = QuantizedLinear(old.in_features, old.out_features, old.bias is not None)
        raw = weights[f"{name}.weight"]
        new.weight = torch.nn.Parameter(torch.empty(raw.shape, dtype=raw.dtype, device="meta"),
                                        requires_grad=False)
        new.compute_dtype = compute
        parent._modules[child] = new
    quantized_keys = {f"{name}.weight" for name in linear}
    return {k: (v if k in quantized_keys else dequantized(v, compute).clone())
            for k, v in weights.items()}


def plain_weight(module: torch.nn.Module) -> torch.Tensor:
    """``module.weight`` as plain values (a quantized one dequantized to its compute dtype),
    for LoRA deltas and patched copies."""
    weight = module.weight
    if not is_quantized(weight):
        return weight
    bias = getattr(module, "bias", None)
    return dequantized(weight, bias.dtype if bias is not None else module.compute_dtype)


def quantized_bytes(model: torch.nn.Module) -> int:
    """Bytes of ``model``'s weights held quantized."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if is_quantized(p))
