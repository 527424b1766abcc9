"""Fused QKV projections for the accelerated denoiser, without touching the shared model.

diffusers' ``fuse_qkv_projections`` concatenates each attention's query/key/value weights into
one ``to_qkv`` (self-attention) or ``to_kv`` (cross-attention) linear layer and switches every
processor to ``FusedAttnProcessor2_0``: one matmul instead of three. Done in place on the
denoiser the model cache shares, it would leak into runs with acceleration off (different
processors, no longer the eager arithmetic), and a LoRA copy made afterwards would share the
stale fused weights. So the fused denoiser is a *structural copy*: new module objects that
share every parameter and buffer with the original (no weights copied) plus the new fused
layers. The original stays exactly as loaded; "off" runs it, and nothing needs unfusing.

The fused weights are built from the original's at fusing time; when the model cache later
moves the original (another device or dtype: its parameters change in place, shared by the
copy), ``refresh`` rebuilds them to match before the next call; a move by the cache first
``release``s them (``pipelines.memory.companions``), so an offload frees them too.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
_LAYERS = "_studio_fused_layers"


def fused_copy(denoiser: Any) -> Any | None:
    """A copy of ``denoiser`` with fused QKV projections, sharing its weights; None when the
    model cannot fuse (no ``fuse_qkv_projections``, added KV projections, GGUF blocks)."""
    if not hasattr(denoiser, "fuse_qkv_projections"):
        return None
    from pipelines.loading.gguf_model import is_quantized

    if any(is_quantized(p) for p in denoiser.parameters()):  # GGUF blocks do not concatenate
        log.info("fused QKV projections are not available for GGUF-quantized weights")
        return None
    from pipelines.structural_copy import shared_copy

    clone = shared_copy(denoiser)  # compiled modules and caches stay behind
    try:
        clone.fuse_qkv_projections()
    except (ValueError, AttributeError, NotImplementedError) as exc:
        log.info("fused QKV projections are not available for this model (%s)", exc)
        return None
    return clone


def _fused_layers(clone: Any) -> list[tuple[Any, str, tuple[str, ...]]]:
    """Every fused layer of ``clone`` with the projections it joins, found once."""
    import torch

    layers = clone.__dict__.get(_LAYERS)
    if layers is None:
        layers = [(module, fused, parts) for module in clone.modules()
                  for fused, parts in (("to_qkv", ("to_q", "to_k", "to_v")),
                                       ("to_kv", ("to_k", "to_v")))
                  if isinstance(getattr(module, fused, None), torch.nn.Linear)]
        clone.__dict__[_LAYERS] = layers
    return layers


def _joins_bias(module: Any, layer: Any, parts: tuple[str, ...]) -> bool:
    """Whether the fused layer's bias is its projections' biases joined (rebuilt with them)."""
    return layer.bias is not None and all(getattr(module, p).bias is not None for p in parts)


def refresh(clone: Any) -> bool:
    """Rebuild the fused weights when the shared ones moved to another device or dtype (the
    model cache moves every parameter together, so the first layer tells) or were released;
    True when rebuilt. One comparison per call when nothing moved."""
    import torch

    layers = _fused_layers(clone)
    if not layers:
        return False
    module, fused, parts = layers[0]
    first, source = getattr(module, fused).weight, getattr(module, parts[0]).weight
    if first.device == source.device and first.dtype == source.dtype:
        return False
    with torch.no_grad():
        for module, fused, parts in layers:
            layer = getattr(module, fused)
            layer.weight = torch.nn.Parameter(
                torch.cat([getattr(module, p).weight for p in parts]), requires_grad=False)
            if _joins_bias(module, layer, parts):
                layer.bias = torch.nn.Parameter(
                    torch.cat([getattr(module, p).bias for p in parts]), requires_grad=False)
    return True


def release(clone: Any) -> None:
    """Free the fused weights (the model cache moved the shared ones away): each becomes a
    storage-less meta tensor of its shape, which ``refresh`` rebuilds before the next call."""
    for module, fused, parts in _fused_layers(clone):
        layer = getattr(module, fused)
        layer.weight = _placeholder(layer.weight)
        if _joins_bias(module, layer, parts):
            layer.bias = _placeholder(layer.bias)


def _placeholder(tensor: Any) -> Any:
    import torch

    return torch.nn.Parameter(torch.empty_like(tensor, device="meta"), requires_grad=False)
