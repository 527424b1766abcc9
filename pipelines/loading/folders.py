"""Model folders: the user's own, the shipped resources, and existing ComfyUI / AUTOMATIC1111
folders added in a config file, so nobody copies gigabytes.

Config: ``<user config dir>/diffusion-studio/models.toml`` (or ``$STUDIO_MODELS_CONFIG``)::

    [[extra]]
    path = "/home/me/ComfyUI/models"             # ComfyUI layout
    [[extra]]
    path = "/home/me/stable-diffusion-webui"     # AUTOMATIC1111 layout
    layout = "a1111"
    [[extra]]
    path = "/mnt/big/sd-models"                  # one folder of checkpoints
    layout = "flat"
    kind = "checkpoints"

The window's Settings add entries (``pipelines.loading.folder_config``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pipelines.errors import StudioError

KINDS: tuple[str, ...] = (
    "checkpoints", "vae", "loras", "embeddings", "upscale_models", "vae_approx", "clip_vision",
    "ipadapter",  # IP-Adapter files (ComfyUI's models/ipadapter)
    "preprocessors",  # models that make hint images (a Depth Anything / DPT folder)
    "controlnet",
    "diffusion_models",  # a denoiser alone (ComfyUI's diffusion_models, formerly unet)
    "text_encoders",  # text encoder files (ComfyUI's text_encoders, formerly clip)
    "hypernetworks",  # AUTOMATIC1111 hypernetworks (.pt)
    "gligen",  # GLIGEN layers for an SD 1.x UNet (ComfyUI's models/gligen)
    "style_models",  # style models: Flux Redux (ComfyUI's models/style_models)
)
MODEL_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"}
# kinds whose diffusers folders hold one network (config.json, no model_index.json)
_NETWORK_FOLDER_KINDS = frozenset({"controlnet"})
BUILTIN = Path(__file__).resolve().parents[2] / "resources" / "models"

# AUTOMATIC1111 keeps models under models/<Name>, embeddings at the top level.
_A1111 = {
    "checkpoints": ["models/Stable-diffusion"],
    "vae": ["models/VAE"],
    "loras": ["models/Lora", "models/LyCORIS"],
    "embeddings": ["embeddings"],
    "upscale_models": ["models/ESRGAN", "models/RealESRGAN"],
    "vae_approx": ["models/VAE-approx"],
    "clip_vision": ["models/clip_vision"],
    "ipadapter": ["models/ipadapter", "models/IP-Adapter"],
    "preprocessors": ["models/preprocessors", "extensions/sd-webui-controlnet/annotator/downloads"],
    "controlnet": ["models/ControlNet", "extensions/sd-webui-controlnet/models"],
    # Forge keeps a Flux/SD3 transformer with the checkpoints, its encoders in text_encoder
    "diffusion_models": ["models/Stable-diffusion", "models/unet"],
    "text_encoders": ["models/text_encoder", "models/clip"],
    "hypernetworks": ["models/hypernetworks"],
    "gligen": ["models/gligen"],
    "style_models": ["models/style_models"],
}
# ComfyUI reads a kind from more than one folder (the older name second)
_COMFYUI = {"diffusion_models": ["diffusion_models", "unet"],
            "text_encoders": ["text_encoders", "clip"]}


class ModelFolderConfigError(StudioError, ValueError):
    """The model folder config file is malformed."""


def user_models_dir() -> Path:
    """The user's models folder (``$STUDIO_MODELS`` or the platform's user data dir)."""
    if override := os.environ.get("STUDIO_MODELS"):
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("diffusion-studio", appauthor=False)) / "models"


def config_path() -> Path:
    if override := os.environ.get("STUDIO_MODELS_CONFIG"):
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("diffusion-studio", appauthor=False)) / "models.toml"


def extra_entries(text: str, path: Path | str = "the model folder config") -> list[dict]:
    """The config's ``[[extra]]`` entries, checked: each has a ``path``, a known ``layout``
    and (``flat``) a known ``kind``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelFolderConfigError(f"{path}: not valid TOML ({exc})") from None
    entries = data.get("extra", [])
    if not isinstance(entries, list):
        raise ModelFolderConfigError(f"{path}: 'extra' must be a list of [[extra]] entries")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ModelFolderConfigError(f"{path}: [[extra]] entry {index + 1} needs a path")
        if entry.get("layout", "comfyui") not in ("comfyui", "a1111", "flat"):
            raise ModelFolderConfigError(
                f"{path}: [[extra]] entry {index + 1}: layout must be 'comfyui', 'a1111' or "
                "'flat'")
        if entry.get("layout") == "flat" and entry.get("kind", "checkpoints") not in KINDS:
            raise ModelFolderConfigError(
                f"{path}: [[extra]] entry {index + 1}: kind must be one of {', '.join(KINDS)}")
    return entries


def extra_roots(kind: str, config: Path | None = None) -> list[Path]:
    """Folders for ``kind`` from the config file's ``[[extra]]`` entries (a ``flat`` entry is
    one folder of models of its ``kind``, e.g. one picked in the window's settings)."""
    path = config or config_path()
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFolderConfigError(f"{path}: not valid TOML ({exc})") from None
    roots: list[Path] = []
    for entry in extra_entries(text, path):
        base = Path(entry["path"]).expanduser()
        layout = entry.get("layout", "comfyui")
        if layout == "a1111":
            roots += [base / sub for sub in _A1111[kind]]
        elif layout == "comfyui":
            roots += [base / sub for sub in _COMFYUI.get(kind, [kind])]
        elif entry.get("kind", "checkpoints") == kind:
            roots.append(base)
    return roots


def roots(kind: str) -> list[Path]:
    """Every folder searched for ``kind``, in order: user, extra, built-in."""
    user = user_models_dir()
    found = [user / sub for sub in _COMFYUI.get(kind, [kind])] + extra_roots(kind)
    if kind == "checkpoints":
        found.append(BUILTIN)
    return found


def resolve(name: str, kind: str) -> Path:
    """Turn a model name or path into an existing path inside the allowed folders.

    Names are looked up in the folders of ``kind``; full paths (and names that lead out of
    their folder) must still land, after following symlinks, in a model folder or a folder
    of ``$STUDIO_ALLOW_PATHS`` (see :mod:`pipelines.loading.file_policy`). Only folders (diffusers
    models) and regular files are returned: a FIFO or device would block the loader.

    Raises:
        FileNotFoundError: naming the folders searched (a ``FileRefused`` when the file is
            outside the allowed folders, or not a regular file, or the name is empty).
    """
    from pipelines.loading.file_policy import FileRefused, check_regular, confine

    if not name or not name.strip():
        raise FileRefused(f"no {kind} model chosen (the name is empty)")
    candidate = Path(name).expanduser()
    path: Path | None = None
    if candidate.is_absolute():
        if not os.path.lexists(candidate):
            raise FileNotFoundError(f"model {name!r} not found (no such file or folder)")
        path = candidate
    else:
        path = next((root / name for root in roots(kind) if os.path.lexists(root / name)),
                    None)
        if path is None and os.path.lexists(candidate):
            path = candidate  # relative to the current folder
    if path is None:
        searched = ", ".join(str(r) for r in roots(kind))
        raise FileNotFoundError(
            f"model {name!r} not found; looked in {searched}. Put it in one of those "
            f"folders, add your ComfyUI/AUTOMATIC1111 folder in {config_path()}, or give a "
            f"full path inside one of them."
        )
    confine(path, model_roots(), "model", name)
    check_regular(path, "model", folders_ok=True)
    return path


def scan(kind: str) -> list[Path]:
    """Model files and diffusers folders of ``kind``, first occurrence of each name wins."""
    seen: dict[str, Path] = {}
    for root in roots(kind):
        if not root.is_dir():
            continue
        for entry in sorted(root.rglob("*")):
            # hidden files and folders below the root; the root itself may be hidden
            # (the default user folder is ~/.local/share/...)
            if any(p.startswith(".") for p in entry.relative_to(root).parts):
                continue
            is_folder_model = entry.is_dir() and (
                (entry / "model_index.json").is_file()
                or kind in _NETWORK_FOLDER_KINDS and (entry / "config.json").is_file())
            if is_folder_model or (entry.is_file() and entry.suffix in MODEL_SUFFIXES
                                   and not _inside_diffusers_folder(entry, root)
                                   and not (kind in _NETWORK_FOLDER_KINDS
                                            and (entry.parent / "config.json").is_file())):
                seen.setdefault(str(entry.relative_to(root)), entry)
    return list(seen.values())


def _inside_diffusers_folder(path: Path, root: Path) -> bool:
    return any((parent / "model_index.json").is_file()
               for parent in path.parents if parent != root and root in parent.parents)


def model_roots() -> list[Path]:
    """Every folder a model may be read from: all model folders, then ``$STUDIO_ALLOW_PATHS``."""
    from pipelines.loading.file_policy import allowed_env

    found: list[Path] = []
    for kind in KINDS:
        found += [r for r in roots(kind) if r not in found]
    return found + allowed_env()


def image_roots(output_dir: str | Path | None = None) -> list[Path]:
    """Every folder an input image may be read from."""
    from pipelines.loading.file_policy import input_dir

    found = [input_dir(), *model_roots()]
    return found + ([Path(output_dir)] if output_dir is not None else [])
