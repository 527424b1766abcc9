"""Load a model (diffusers folder or single file) as (DiffusionModel, TextEncoder, Vae), offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.families import ROLES, ModelFamily, folder_family, get_family, standalone_vae_family
from pipelines.loading.components import (
    check_required,
    direct_device,
    load_component,
    load_family_components,
)
from pipelines.loading.components import read_json as _read_json
from pipelines.sampling.previews import default_factors
from pipelines.values import DiffusionModel, TextEncoder, Vae


def _family(folder: Path, studio: dict[str, Any] | None) -> ModelFamily:
    """The folder's family (``pipelines.families.folder_family``), a bad name reported against
    the file that holds it."""
    try:
        return get_family(folder_family(folder))
    except ValueError as exc:
        source = "studio.json" if studio and "family" in studio else "model_index.json"
        raise ModelLoadError(folder / source, f"Its {exc}.") from exc


def _preview_factors(folder: Path, family: str, channels: int) -> tuple[Any, Any]:
    path = folder / "preview.json"
    if not path.is_file():
        return default_factors(family, channels)
    data = _read_json(path)
    factors, bias = data.get("latent_rgb_factors"), data.get("latent_rgb_bias")
    rows_ok = isinstance(factors, list) and len(factors) == channels
    if not rows_ok or any(not isinstance(r, list) or len(r) != 3 for r in factors):
        raise ModelLoadError(path, f"latent_rgb_factors must be a {channels} x 3 list of numbers.")
    if bias is not None and (not isinstance(bias, list) or len(bias) != 3):
        raise ModelLoadError(path, "latent_rgb_bias must be a list of 3 numbers.")
    factors = [[float(v) for v in row] for row in factors]
    return factors, None if bias is None else [float(v) for v in bias]


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu",
    dtype: torch.dtype | dict[str, torch.dtype] | None = None, vram_mode: str | None = None,
) -> tuple[DiffusionModel, TextEncoder, Vae | None]:
    """Load a diffusers-format folder or a single-file checkpoint (never touches the network).

    Args:
        path: Folder with model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/
            (SDXL also text_encoder_2/, tokenizer_2/); optional studio.json and preview.json.
            Or an SD 1.x/2.x/SDXL single file (see ``pipelines.loading.single_file``).
        device: Where the networks go.
        dtype: Weight dtype; None means float32. A dict gives one per component
            role (``denoiser``, ``text_encoder``, ``vae``; see ``pipelines.memory.precision``).
        vram_mode: The run's VRAM mode, when known: a folder's networks that it keeps in RAM
            (``pipelines.memory.placement.kept_in_ram``: T5 on CUDA) are loaded to the CPU
            and left there. None: every network goes to ``device``.

    Returns:
        ``(model, clip, vae)``, networks in eval mode with gradients off; ``vae`` is None
        for a pixel-space family (DeepFloyd IF), whose ``model.schedulers`` also holds its
        other scheduler configs (stage II's ``image_noising_scheduler``).

    Raises:
        ModelLoadError: A missing or corrupt folder or file; the message names it.
    """
    folder = Path(path)
    if not folder.exists():
        raise ModelLoadError(folder, "No such file or folder.")
    from pipelines.memory.placement import kept_in_ram

    def in_ram(kind: type) -> bool:
        return vram_mode is not None and kept_in_ram(kind, device, vram_mode)

    if not folder.is_dir():
        from pipelines.loading.single_file import load_single_file

        return load_single_file(folder, device=device, dtype=dtype, in_ram=in_ram)
    from pipelines.memory.precision import component_dtypes

    dtypes = component_dtypes(dtype)
    model_index = _read_json(folder / "model_index.json")
    studio = _read_json(folder / "studio.json") if (folder / "studio.json").exists() else None
    family = _family(folder, studio)
    if not family.vae:
        raise ModelLoadError(folder, f"This is a {family.label} ({family.detection_note}).")
    check_required(folder, model_index, family)
    scheduler_config = family.scheduler_config(
        _read_json(folder / "scheduler" / "scheduler_config.json"))
    # networks straight to a GPU (no CPU copy first), those kept in RAM to the CPU; the CPU
    # path is unchanged
    components = load_family_components(folder, model_index, family, dtypes,
                                        direct_device(device), in_ram=in_ram)
    denoiser, vae = components[family.denoiser], components.get(family.vae)
    if vae is None:  # a pixel-space family (DeepFloyd IF): the denoiser draws the image itself
        channels, scale_factor = family.latent.channels, family.latent.spatial_factor
    else:
        channels = int(vae.config.latent_channels)
        scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    factors, bias = _preview_factors(folder, family.id, channels)
    roles = family.roles()
    for name, component in components.items():
        if roles.get(name) in ROLES and not in_ram(type(component)):
            component.to(device)
    extra_schedulers = {
        c.name: _read_json(folder / c.name / "scheduler_config.json")
        for c in family.components
        if c.role == "scheduler" and c.name != "scheduler" and (folder / c.name).is_dir()
    }
    model = DiffusionModel(
        denoiser=denoiser,
        scheduler_config=scheduler_config,
        family=family.id,
        latent_channels=channels,
        vae_scale_factor=scale_factor,
        prediction_type=str(scheduler_config.get("prediction_type", "epsilon")),
        latent_rgb_factors=factors,
        latent_rgb_bias=bias,
        source=str(folder),
        schedulers=extra_schedulers,
        extras=family.read_extras(folder),
    )
    clip = TextEncoder(
        tokenizer=components.get("tokenizer"),
        text_encoder=components.get("text_encoder"),
        source=str(folder),
        tokenizer_2=components.get("tokenizer_2"),
        text_encoder_2=components.get("text_encoder_2"),
        family=family.id,
        tokenizer_3=components.get("tokenizer_3"),
        text_encoder_3=components.get("text_encoder_3"),
    )
    return model, clip, None if vae is None else _wrap_vae(vae, folder, family)


def _wrap_vae(vae: Any, folder: Path, family: ModelFamily) -> Vae:
    shift = getattr(vae.config, "shift_factor", None)
    scaling = getattr(vae.config, "scaling_factor", 0.18215)
    if not family.vae_scaling_from_config:
        scaling, shift = family.latent.scaling_factor, family.latent.shift_factor
    return Vae(
        vae=vae,
        scaling_factor=float(scaling),
        shift_factor=None if shift is None else float(shift),
        source=str(folder),
        decode_options=dict(family.vae_decode_options),
    )


def load_vae(
    path: str | Path, device: str | torch.device = "cpu", scaling: str = "auto",
    dtype: torch.dtype | None = None,
) -> Vae:
    """Load a standalone VAE: a single file (original or diffusers key layout) or a diffusers
    ``vae`` folder (or a model folder, whose ``vae/`` is used).

    Args:
        path: The file or folder.
        device: Where the network goes.
        scaling: Latent scaling of single files, which do not record it: "sd" (0.18215),
            "sdxl" (0.13025) or "auto" (SDXL when the file name contains "xl").
        dtype: Weight dtype; None means float32.

    Raises:
        ModelLoadError: missing, unsafe or not a VAE; the message names the file.
    """
    from pipelines.loading import single_file
    from pipelines.loading.readers import CONFIGS, read_state_dict

    path = Path(path)
    if path.is_dir():
        folder = path / "vae" if (path / "model_index.json").is_file() else path
        vae = load_component(folder.parent, {folder.name: ["diffusers", "AutoencoderKL"]},
                             folder.name, dtype or torch.float32, ("diffusers.AutoencoderKL",),
                             device_map=direct_device(device))
        return single_file.wrap_vae(vae.to(device), str(path))
    if not path.exists():
        raise ModelLoadError(path, "No such file or folder.", hint="")
    state, _ = read_state_dict(path)
    if "encoder.conv_in.weight" not in state and "first_stage_model.encoder.conv_in.weight" not in state:
        if "encoder.down_blocks.0.resnets.0.conv1.weight" not in state:
            raise ModelLoadError(path, "Not a VAE (no encoder/decoder weights).",
                                 hint="Pick a file from the vae folder.")
        state = _diffusers_vae_to_original(state)
    if _sixteen_channels(state):  # Flux's ae (SD3's VAE has the same shape)
        from pipelines.loading.flux_files import build_ae

        vae = build_ae(state, path, scaling)
        return single_file.wrap_vae(vae.to(device=device, dtype=dtype or torch.float32), str(path))
    layout = get_family(standalone_vae_family(path, scaling)).single_file
    assert layout is not None
    template = _read_json(CONFIGS / layout.template / "vae" / "config.json")
    vae = single_file.build_vae(state, template, path)
    return single_file.wrap_vae(vae.to(device=device, dtype=dtype or torch.float32), str(path))


def _sixteen_channels(state: dict[str, torch.Tensor]) -> bool:
    """A 16-channel VAE without quant convs: Flux's ``ae`` (or SD3's VAE)."""
    key = next((k for k in state if k.endswith("decoder.conv_in.weight")), None)
    return (key is not None and state[key].shape[1] == 16
            and not any(k.endswith("quant_conv.weight") for k in state))


def _diffusers_vae_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from pipelines.loading.convert import vae_to_original

    return vae_to_original(state, prefix="")
