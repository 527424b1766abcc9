"""Load a CLIP vision encoder with projection (``CLIPVisionModelWithProjection``) from what
users have: a transformers folder (config.json, e.g. a prior's ``image_encoder/``), a model
folder that holds one (a Kandinsky 2.2 prior), or a single file in the Hugging Face key layout
(ComfyUI's ``models/clip_vision``) or the OpenCLIP one (alone, or inside an SD 2.1 unCLIP
checkpoint: ``open_clip_vision.py``), whose config is read off the tensor shapes.
The image processor is the folder's, else OpenAI CLIP's (bicubic resize, center crop,
normalize), built offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.values import ClipVision

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
_HINT = "Pick a CLIP vision model: a folder with config.json or a .safetensors file."
_HEADS = {1280: 16, 1664: 16}  # OpenCLIP ViT-H/14 and ViT-bigG/14: wider heads than 64


def default_processor(image_size: int) -> Any:
    """OpenAI CLIP's preprocessing at ``image_size`` (what CLIP vision models are trained on)."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size=image_size, crop_size=image_size, do_center_crop=True,
                              do_normalize=True, do_resize=True, resample=3,
                              image_mean=OPENAI_MEAN, image_std=OPENAI_STD)


def config_from_state(state: dict[str, torch.Tensor], path: Path) -> Any:
    """The ``CLIPVisionConfig`` of a Hugging Face-layout state dict, from its shapes (heads of
    64 channels as OpenAI's ViT-B and ViT-L have, but 16 heads for OpenCLIP's ViT-H and
    ViT-bigG (80 and 104 wide); OpenAI's ViT-B and ViT-L (768 and 1024 wide) use quick_gelu,
    OpenCLIP's ViT-H and ViT-bigG gelu)."""
    from transformers import CLIPVisionConfig

    prefix = "vision_model."
    try:
        patch = state[prefix + "embeddings.patch_embedding.weight"]
        positions = state[prefix + "embeddings.position_embedding.weight"].shape[0]
        projection = state["visual_projection.weight"].shape[0]
        intermediate = state[prefix + "encoder.layers.0.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise ModelLoadError(path, f"Not a CLIP vision model (no {exc.args[0]}).",
                             hint=_HINT) from None
    hidden, patch_size = int(patch.shape[0]), patch.shape[-1]
    layers = len({k.split(".")[3] for k in state if k.startswith(prefix + "encoder.layers.")})
    side = round((positions - 1) ** 0.5)
    return CLIPVisionConfig(
        hidden_size=hidden, intermediate_size=intermediate, projection_dim=projection,
        num_hidden_layers=layers, num_attention_heads=_HEADS.get(hidden, max(1, hidden // 64)),
        patch_size=patch_size, image_size=side * patch_size, num_channels=patch.shape[1],
        hidden_act="quick_gelu" if hidden in (768, 1024) else "gelu", layer_norm_eps=1e-5,
    )


def _from_folder(folder: Path, dtype: torch.dtype) -> ClipVision:
    import transformers

    from pipelines.untrusted_json import JsonInputError, load_object_file

    try:  # a SigLIP vision tower (Flux Redux's image encoder) is read with its own classes
        siglip = load_object_file(folder / "config.json").get("model_type") == \
            "siglip_vision_model"
    except JsonInputError as exc:
        raise ModelLoadError(folder, f"config.json: {exc}", hint=_HINT) from None
    model_class = transformers.SiglipVisionModel if siglip else \
        transformers.CLIPVisionModelWithProjection
    processor_class = transformers.SiglipImageProcessor if siglip else \
        transformers.CLIPImageProcessor
    try:
        encoder = model_class.from_pretrained(
            str(folder), local_files_only=True, dtype=dtype)
    except Exception as exc:  # any failure here means a broken folder
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(folder, f"The CLIP vision model could not be read ({detail}).",
                             hint=_HINT) from exc
    processor = None
    for candidate in (folder, folder.parent / "image_processor",
                      folder.parent / "feature_extractor"):  # Stable unCLIP's
        if (candidate / "preprocessor_config.json").is_file():
            processor = processor_class.from_pretrained(str(candidate), local_files_only=True)
            break
    return ClipVision(encoder, processor or default_processor(encoder.config.image_size),
                      str(folder))


def _file_state(path: Path) -> dict[str, torch.Tensor]:
    """A file's vision weights in Hugging Face names: as they are, or converted from the
    OpenCLIP layout (alone, or inside an SD 2.1 unCLIP checkpoint: only that part is read)."""
    from pipelines.loading.open_clip_vision import read_vision_tower, to_transformers, vision_prefix
    from pipelines.loading.readers import read_state_dict

    if path.suffix == ".safetensors":
        from pipelines.loading.detect import read_header

        prefix = vision_prefix(read_header(path))
        state = read_vision_tower(path, prefix) if prefix is not None else read_state_dict(path)[0]
    else:
        state = read_state_dict(path)[0]
        prefix = vision_prefix(state)
    if prefix is None:
        return state
    try:
        return to_transformers(state, prefix)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(path, f"Its CLIP vision tower ({prefix or 'OpenCLIP layout'}) is "
                             f"incomplete ({type(exc).__name__}: {exc}).", hint=_HINT) from None


def _clip_from_state(state: dict[str, torch.Tensor], path: Path,
                     dtype: torch.dtype) -> ClipVision:
    from transformers import CLIPVisionModelWithProjection

    config = config_from_state(state, path)
    encoder = CLIPVisionModelWithProjection(config)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise ModelLoadError(path, f"Not a complete CLIP vision model ({len(missing)} "
                             f"weights missing, e.g. {missing[0]}).", hint=_HINT)
    return ClipVision(encoder.to(dtype), default_processor(config.image_size), str(path))


def load_clip_vision(path: str | Path, device: str | torch.device = "cpu",
                     dtype: torch.dtype | None = None) -> ClipVision:
    """Raises: ModelLoadError: missing, unsafe, or not a CLIP vision model; names the file."""
    path, dtype = Path(path), dtype or torch.float32
    if path.is_dir():
        folder = path / "image_encoder" if (path / "image_encoder").is_dir() else path
        if not (folder / "config.json").is_file():
            raise ModelLoadError(path, "No config.json (nor image_encoder/config.json).",
                                 hint=_HINT)
        vision = _from_folder(folder, dtype)
    elif not path.exists():
        raise ModelLoadError(path, "No such file or folder.", hint=_HINT)
    else:
        from pipelines.loading.siglip_file import is_siglip_state, siglip_from_state

        state = _file_state(path)
        # a SigLIP tower (Flux Redux's image encoder) or a CLIP one
        vision = siglip_from_state(state, path, dtype) if is_siglip_state(state) else \
            _clip_from_state(state, path, dtype)
    vision.image_encoder.eval().requires_grad_(False)
    vision.image_encoder.to(device)
    return vision
