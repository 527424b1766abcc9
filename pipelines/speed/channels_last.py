"""channels_last convolution weights for the accelerated denoiser, on its copy only.

``module.to(memory_format=torch.channels_last)`` converts parameters in place: on the
weight-sharing copy that compile/max run (``pipelines.speed.fused_qkv``) it would convert the
cached original's parameters too, and every later "off" run would take channels_last
convolution kernels. So the copy's convolutions get weights of their own, in channels_last
order; the original's stay as loaded. Kernels of 1x1 are the same bytes in either order
and stay shared; the rest cost one more copy of the convolution weights on the device
(~1.1 GB for an fp16 SD1.5 UNet, ~0.6 GB for SDXL), which compile/max choose for speed.

When the model cache moves the original (another device or dtype), ``refresh`` rebuilds the
copies from it before the next call, like the fused projections; the cache's move first
``release``s them (``pipelines.memory.companions``), so an offload frees them too.
"""

from __future__ import annotations

from typing import Any

_LAYERS = "_studio_channels_last"


def to_channels_last(clone: Any) -> int:
    """Give ``clone``'s 2-d convolutions channels_last weights of their own (the shared ones,
    still the original's, are not touched); returns how many were converted. GGUF-quantized
    weights are left as they are."""
    import torch

    from pipelines.loading.gguf_model import is_quantized

    layers: list[tuple[Any, Any]] = []
    for module in clone.modules():
        weight = getattr(module, "weight", None)
        if (not isinstance(module, torch.nn.Conv2d) or not isinstance(weight, torch.Tensor)
                or is_quantized(weight)):
            continue
        if weight.is_contiguous(memory_format=torch.channels_last):
            continue  # 1x1 kernels: already both layouts, nothing to copy
        module.weight = _converted(weight)
        layers.append((module, weight))
    clone.__dict__[_LAYERS] = layers
    return len(layers)


def _converted(source: Any) -> Any:
    import torch

    with torch.no_grad():
        return torch.nn.Parameter(source.detach().contiguous(memory_format=torch.channels_last),
                                  requires_grad=False)


def refresh(clone: Any) -> bool:
    """Rebuild the channels_last weights when the shared originals moved to another device or
    dtype (the cache moves them all together, so the first tells) or they were released; True
    when rebuilt."""
    layers = clone.__dict__.get(_LAYERS)
    if not layers:
        return False
    module, source = layers[0]
    if module.weight.device == source.device and module.weight.dtype == source.dtype:
        return False
    for module, source in layers:
        module.weight = _converted(source)
    return True


def release(clone: Any) -> None:
    """Free the channels_last weights: each becomes a storage-less meta tensor of its shape,
    which ``refresh`` rebuilds from the original before the next call."""
    import torch

    for module, _source in clone.__dict__.get(_LAYERS) or ():
        module.weight = torch.nn.Parameter(torch.empty_like(module.weight, device="meta"),
                                           requires_grad=False)
