"""GGUF model files (city96's ComfyUI-GGUF transformers: ``flux1-dev-Q8_0.gguf``,
``sd3.5_large-Q4_K_M.gguf``): tensor names from the header for detection, and the weights read
with diffusers' GGUF reader (``load_gguf_checkpoint``, the ``gguf`` package) and dequantized on
load (``dequantize_gguf_tensor``) to bfloat16, so the family's file readers take them like a
safetensors file; or, for the SD3 and Flux transformer readers, kept quantized
(``gguf_model``: the Linear layers dequantize their blocks per call). GGUF is data
only: nothing in the file is executed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

_PLAIN = (torch.float32, torch.float16, torch.bfloat16)


def _reader(path: Path) -> Any:
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ModelLoadError(path, "Reading GGUF files needs the 'gguf' package "
                             "(pip install gguf).", hint="") from None
    try:
        return GGUFReader(str(path))
    except Exception as exc:  # a damaged file: gguf raises ValueError, struct and numpy errors
        raise ModelLoadError(path, f"Not a readable GGUF file ({type(exc).__name__}: "
                             f"{str(exc).strip()[:200]}).", hint="") from None


def gguf_header(path: str | Path) -> dict[str, Any]:
    """``{name: {"dtype", "shape"}}`` of a GGUF file's tensors (no weight is read), shaped as
    ``pipelines.loading.detect.detect_header`` reads safetensors headers."""
    path = Path(path)
    return {t.name: {"dtype": t.tensor_type.name, "shape": [int(n) for n in reversed(t.shape)]}
            for t in _reader(path).tensors}


def read_gguf(path: str | Path, quantized: bool = False) -> dict[str, torch.Tensor]:
    """Every tensor of a GGUF file, quantized ones dequantized to bfloat16, or with
    ``quantized`` kept as diffusers' ``GGUFParameter`` blocks (see ``gguf_model``).

    Raises:
        ModelLoadError: no ``gguf`` package, a damaged file, or a quantization diffusers
            cannot dequantize.
    """
    path = Path(path)
    _reader(path)  # the clear errors first
    from diffusers.models.model_loading_utils import load_gguf_checkpoint
    from diffusers.quantizers.gguf.utils import GGUFParameter, dequantize_gguf_tensor

    try:
        parsed = load_gguf_checkpoint(str(path))
    except ValueError as exc:  # an unsupported quantization type
        raise ModelLoadError(path, str(exc).strip().splitlines()[0], hint="") from None
    state = {}
    for name, tensor in parsed.items():
        if isinstance(tensor, GGUFParameter) and quantized:
            state[name] = tensor
            continue
        if isinstance(tensor, GGUFParameter):
            tensor = dequantize_gguf_tensor(tensor).as_subclass(torch.Tensor).to(torch.bfloat16)
        state[name] = tensor if tensor.dtype in _PLAIN else tensor.float()
    return state
