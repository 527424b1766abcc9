"""Reading model files: tensors from .safetensors or weights-only pickles (a pickle that would
run code is refused unread), JSON configs, and the CLIP tokenizer shipped in resources/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

CONFIGS = Path(__file__).resolve().parents[2] / "resources" / "configs"
TOKENIZER_DIR = CONFIGS / "clip-tokenizer"
SUPPORTED = "Single-file checkpoints must be SD 1.x, SD 2.x or SDXL (.safetensors, or .ckpt/.pt holding plain tensors)."
_PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin"}


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def clip_tokenizer(pad_token: str = "<|endoftext|>", max_length: int = 77) -> Any:
    """The CLIP BPE tokenizer shipped in ``resources/configs/clip-tokenizer`` (49,408 tokens).

    Args:
        pad_token: ``<|endoftext|>`` (CLIP-L) or ``!`` (OpenCLIP: SD2 and SDXL's second encoder).
        max_length: Context length.
    """
    from transformers import CLIPTokenizer

    return CLIPTokenizer(
        str(TOKENIZER_DIR / "vocab.json"), str(TOKENIZER_DIR / "merges.txt"),
        pad_token=pad_token, model_max_length=max_length,
    )


def read_state_dict(
    path: str | Path, wrappers: tuple[str, ...] = ("state_dict",), supported: str = SUPPORTED,
    quantized: bool = False,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a model file; a pickle that would run code is refused unread.
    ``quantized``: a GGUF file's quantized tensors stay quantized (``gguf_model``).

    Args:
        path: A .safetensors file, or a .ckpt/.pt/.pth/.bin pickle of plain tensors.
        wrappers: Keys under which pickles nest their tensors (unwrapped in this order).
        supported: The sentence saying which files are accepted, appended to errors.

    Raises:
        ModelLoadError: unreadable file, or a pickle holding more than plain tensors.
    """
    path = Path(path)
    _check_regular(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                return {k: handle.get_tensor(k) for k in handle.keys()}, metadata  # noqa: SIM118
        except Exception as exc:  # safetensors raises its own error types
            raise ModelLoadError(path, f"Not a readable .safetensors file ({exc}). {supported}") from None
    if path.suffix == ".gguf":  # quantized transformers (ComfyUI-GGUF), dequantized on load
        from pipelines.loading.gguf_files import read_gguf

        return read_gguf(path, quantized), {}
    if path.suffix not in _PICKLE_SUFFIXES:
        raise ModelLoadError(path, f"Not a supported model file type '{path.suffix}'. {supported}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler refuses anything but plain data
        if not _refused_as_code(exc):
            raise ModelLoadError(
                path, f"Not a readable model file: it is truncated or damaged "
                f"({type(exc).__name__}: {_first_line(exc)}).",
                hint="Download it again, or use a .safetensors version of this model.",
            ) from None
        raise ModelLoadError(
            path, "Refused to load: this pickle file holds more than plain tensors and could run "
            f"code when opened, so it was not opened ({type(exc).__name__}).",
            hint="Use a .safetensors version of this model.",
        ) from None
    for wrapper in wrappers:
        while isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise ModelLoadError(path, f"It holds no state dict of tensors. {supported}")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, {}


def _check_regular(path: Path) -> None:
    """Refuse a FIFO, device or socket before opening it (reading one blocks or never ends)."""
    from pipelines.loading.file_policy import FileRefused, check_regular

    try:
        check_regular(path, "model file")
    except FileRefused as exc:
        raise ModelLoadError(path, str(exc).removeprefix(f"model file {path} "), hint="") from None


def _refused_as_code(exc: BaseException) -> bool:
    """Whether torch.load's weights-only unpickler refused the file for what it would run
    (rather than failing on a truncated or damaged file)."""
    import pickle

    text = str(exc)
    return isinstance(exc, pickle.UnpicklingError) and (
        "Weights only load failed" in text or "Unsupported global" in text
        or "Unsupported operand" in text)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].split(". ")[0][:160] if lines else "no details"
