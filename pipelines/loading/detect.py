"""What a model file is, from its safetensors header alone (no tensor is loaded).

The header is a JSON table of tensor names, dtypes and shapes; the names and a few shapes
identify the family (SD1.x, SD2.x, SDXL base/refiner, inpainting variants) and the kind
(full checkpoint, VAE-only, UNet-only, LoRA, embedding, upscaler).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import ModelLoadError
from pipelines.families import (
    UNKNOWN,
    checkpoint_family,
    file_family,
    folder_family,
    get_family,
    input_variant,
    text_key_family,
    unet_file_family,
)
from pipelines.loading.transformer_controlnet_layouts import (
    describe as describe_transformer_controlnet,
)
from pipelines.untrusted_json import JsonInputError, show
from pipelines.untrusted_json import loads as checked_loads


def _load_error(path: Path, message: str) -> ModelLoadError:
    return ModelLoadError(path, message, hint="")


_MAX_HEADER = 100 * 1024 * 1024  # a real header is a few MB; more means a broken file

UNET = "model.diffusion_model."
CONTEXT_KEY = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


@dataclass(frozen=True)
class Detection:
    """``kind``: checkpoint | vae | unet | lora | embedding | upscaler | diffusers | unknown.
    ``family``: a ``pipelines.families`` id, or "" (not applicable/unknown)."""

    kind: str
    family: str = ""
    inpainting: bool = False
    note: str = ""

    def describe(self) -> str:
        parts = [self.kind]
        if self.family:
            parts.append(self.family + ("-inpainting" if self.inpainting else ""))
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file: ``{name: {dtype, shape, data_offsets}}``.

    Raises:
        ModelLoadError: the file is not a well-formed safetensors file.
    """
    path = Path(path)
    from pipelines.loading.file_policy import FileRefused, check_regular

    try:
        check_regular(path, "model file")
    except FileRefused as exc:
        raise _load_error(path, str(exc).removeprefix(f"model file {path} ")) from None
    try:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise _load_error(path, "is too short to be a safetensors file")
            (length,) = struct.unpack("<Q", raw)
            if length > _MAX_HEADER or length > path.stat().st_size - 8:
                raise _load_error(path, "is not a safetensors file (bad header length)")
            header = checked_loads(handle.read(length), max_chars=_MAX_HEADER, max_depth=8)
    except OSError as exc:
        raise _load_error(path, f"cannot be read ({exc.strerror})") from None
    except JsonInputError as exc:
        raise _load_error(path, f"is not a safetensors file (header: {exc})") from None
    if not isinstance(header, dict):
        raise _load_error(path, "is not a safetensors file (header is not a table)")
    header.pop("__metadata__", None)
    for name, entry in header.items():
        problem = _entry_problem(entry)
        if problem:
            raise _load_error(path, f"is not a safetensors file (tensor {show(name)}: "
                                    f"{problem})")
    return header


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one tensor's header entry, or None."""
    if not isinstance(entry, dict):
        return "expected {dtype, shape, data_offsets}"
    if not isinstance(entry.get("dtype"), str):
        return "dtype must be text"
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(_count(n) for n in shape):
        return "shape must be a list of whole numbers, 0 or more"
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_count, offsets)):
        return "data_offsets must be two whole numbers, 0 or more"
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape(header: dict[str, Any], key: str) -> list[int] | None:
    entry = header.get(key)
    return list(entry.get("shape", [])) if isinstance(entry, dict) else None


def _dim(header: dict[str, Any], key: str, index: int) -> int | None:
    """Dimension ``index`` of tensor ``key``'s shape; None when absent or too few dims."""
    shape = _shape(header, key)
    return shape[index] if shape is not None and len(shape) > index else None


def detect_header(header: dict[str, Any]) -> Detection:
    """Classify a model from its tensor names and shapes."""
    keys = header.keys()
    if any("lora_down" in k or "lora_A" in k or "lora_up" in k for k in keys):
        return Detection("lora")
    if {"emb_params", "string_to_param", "clip_l", "clip_g"} & set(keys) or any(
        k.startswith("string_to_param.") for k in keys
    ):
        return Detection("embedding")
    if "conv_first.weight" in keys or "model.0.weight" in keys and "model.1.sub.0.RDB1.conv1.0.weight" in keys:
        return Detection("upscaler", note="ESRGAN/RRDBNet")
    if control := _control(header):
        return control
    family, kind = file_family(keys, header)  # transformer families: their own layouts
    if family:
        return Detection(kind, family, note=get_family(family).detection_note)
    if f"{UNET}input_blocks.0.0.weight" in keys:
        return _checkpoint(header, UNET, "checkpoint")
    if "input_blocks.0.0.weight" in keys:
        return _checkpoint(header, "", "unet")
    if "conv_in.weight" in keys and any(k.startswith("down_blocks.") for k in keys):
        if "encoder.conv_in.weight" not in keys:
            context = next((d for k in keys if k.endswith("attn2.to_k.weight")
                            and (d := _dim(header, k, 1)) is not None), 0)
            family = unet_file_family(context)
            return Detection("unet", family, note="diffusers layout")
    if "encoder.conv_in.weight" in keys and "decoder.conv_in.weight" in keys:
        return Detection("vae")
    if "first_stage_model.encoder.conv_in.weight" in keys:
        return Detection("vae", note="inside a checkpoint without a UNet")
    return _text_encoder(header)


T5_KEY = "encoder.block.0.layer.0.SelfAttention.q.weight"
CLIP_TEXT_KEY = "encoder.layers.0.mlp.fc1.weight"


def _text_encoder(header: dict[str, Any]) -> Detection:
    """A text encoder file alone (ComfyUI's clip_l / clip_g / t5xxl), else unknown."""
    t5 = next((k for k in header if k.endswith(T5_KEY)), None)
    if t5 is not None:
        return Detection("text_encoder", note=f"T5 encoder, width {_dim(header, t5, 1)} "
                         "(SD3 / Flux t5xxl)")
    clip = next((k for k in header if k.endswith(CLIP_TEXT_KEY)), None)
    if clip is not None:
        width = _dim(header, clip, 1)
        name = {768: "CLIP-L", 1280: "CLIP-G"}.get(width or 0, "CLIP")
        return Detection("text_encoder", note=f"{name} text encoder, width {width}")
    return Detection("unknown")


def _control(header: dict[str, Any]) -> Detection | None:
    """A ControlNet (original ``control_model.*``/``input_hint_block`` or diffusers layout) or
    a T2I-Adapter; the family from the ControlNet's cross-attention width."""
    keys = header.keys()
    transformer = describe_transformer_controlnet(keys)  # SD3 / Flux ControlNets
    if transformer is not None:
        return Detection("controlnet", transformer[0], note=transformer[1])
    if any(k.startswith(("adapter.body.", "body.0.resnets.")) for k in keys):
        return Detection("t2i_adapter", note="diffusers layout")
    original = any("input_hint_block." in k for k in keys)
    if not original and not any(k.startswith("controlnet_cond_embedding.") for k in keys):
        return None
    context = next((d for k in keys if k.endswith("attn2.to_k.weight")
                    and (d := _dim(header, k, 1)) is not None), 0)
    note = "diff ControlNet (needs its base model)" if "difference" in keys else (
        "original layout" if original else "diffusers layout")
    return Detection("controlnet", unet_file_family(context) if context else "", note=note)


def _checkpoint(header: dict[str, Any], prefix: str, kind: str) -> Detection:
    in_channels = _dim(header, f"{prefix}input_blocks.0.0.weight", 1)
    inpainting = in_channels == 9
    context = _dim(header, f"{prefix}{CONTEXT_KEY}", 1) or 0
    label_key = f"{prefix}label_emb.0.0.weight"
    label_width = _dim(header, label_key, 1) if label_key in header else None
    family = input_variant((text_key_family(header.keys()) if prefix else "")
                           or checkpoint_family(context, label_width), in_channels)
    if not family:
        return Detection(kind, note=f"unrecognised UNet (context dim {context})")
    note = get_family(family).detection_note
    return Detection(kind, family, inpainting, note)


def _folder_inpainting(folder: Path) -> bool:
    """Whether a diffusers folder's UNet takes [latent, mask, masked image] (2C + 1 channels)."""
    configs = []
    for name in ("unet", "vae"):
        try:
            configs.append(checked_loads((folder / name / "config.json").read_bytes(),
                                         max_chars=1024 * 1024))
        except (OSError, JsonInputError):
            return False
    unet, vae = configs
    if not isinstance(unet, dict) or not isinstance(vae, dict):
        return False
    latent = vae.get("latent_channels", 4)
    return isinstance(latent, int) and unet.get("in_channels") == 2 * latent + 1


def _config_folder(path: Path) -> Detection:
    """A folder of one diffusers network (config.json): ControlNets and T2I-Adapters."""
    try:
        config = checked_loads((path / "config.json").read_bytes(), max_chars=1024 * 1024)
    except (OSError, JsonInputError):
        return Detection("unknown", note="folder without model_index.json")
    name = config.get("_class_name") if isinstance(config, dict) else None
    if name == "ControlNetModel":
        width = config.get("cross_attention_dim")
        family = unet_file_family(width) if isinstance(width, int) else ""
        return Detection("controlnet", family, note="diffusers folder")
    if name == "T2IAdapter":
        return Detection("t2i_adapter", note="diffusers folder")
    return Detection("unknown", note=f"folder with a {show(name)} config.json")


def detect(path: str | Path) -> Detection:
    """Classify a model file or diffusers folder.

    Raises:
        ModelLoadError: a .safetensors file whose header is broken.
    """
    path = Path(path)
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            return _config_folder(path)
        try:  # studio.json's family (a damaged file is named), else the matching denoiser's
            family = folder_family(path)
        except ValueError as exc:
            return Detection("diffusers", note=str(exc))
        family = "" if family == UNKNOWN else family
        note = get_family(family).detection_note if family else ""
        return Detection("diffusers", family, _folder_inpainting(path), note)
    if path.suffix == ".safetensors":
        return detect_header(read_header(path))
    if path.suffix == ".gguf":
        from pipelines.loading.gguf_files import gguf_header

        return detect_header(gguf_header(path))
    if path.suffix in {".ckpt", ".pt", ".pth", ".bin"}:
        return Detection("unknown", note="pickle file: inspect by loading it as plain tensors")
    return Detection("unknown")
