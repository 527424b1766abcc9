"""Model families as data: one ``ModelFamily`` per family (sd1, sd2, sdxl, sdxl_refiner, demo,
the DeepFloyd IF stages deepfloyd_if and deepfloyd_if_sr, Flux.1 flux_dev and flux_schnell,
and ``unknown`` for unnamed UNet folders), registered in detection order. The loader, prompt
encoding, the denoising loop, previews, precision and placement ask the family; nothing
outside this package tests which family a model is. See docs/FAMILY_RECIPE.md to add one."""

from __future__ import annotations

from pipelines.families.base import (
    ROLES,
    Component,
    LatentFormat,
    ModelFamily,
    SingleFileLayout,
    unet_components,
)
from pipelines.families.deepfloyd_if import IFStage1, IFStage2
from pipelines.families.demo import Demo
from pipelines.families.flux import FluxDev, FluxSchnell
from pipelines.families.kandinsky import Kandinsky22, Kandinsky22Prior
from pipelines.families.karlo import Karlo
from pipelines.families.registry import (
    UNKNOWN,
    checkpoint_family,
    component_roles,
    detect_family,
    families,
    family_ids,
    file_family,
    folder_family,
    get_family,
    named_family,
    part_file_families,
    register_family,
    single_file_prefixes,
    standalone_vae_family,
    text_key_family,
    unet_file_family,
    unregister_family,
)
from pipelines.families.sd import SD1, SD2
from pipelines.families.sdxl import SDXL, SDXLRefiner
from pipelines.families.unknown import Unknown

# Detection order: IF's text-embedding pixel UNets, SDXL's text_time test and Kandinsky's image
# embedding test before the plain context-width tests; Karlo (whose folder also has a prior/)
# before the Kandinsky prior.
for _family in (IFStage1(), IFStage2(), Kandinsky22(), Karlo(), Kandinsky22Prior(), SD1(), SD2(),
                SDXL(), SDXLRefiner(), FluxDev(), FluxSchnell(), Demo(), Unknown()):
    register_family(_family)

__all__ = [
    "ROLES", "UNKNOWN", "Component", "LatentFormat", "ModelFamily", "SingleFileLayout",
    "checkpoint_family", "component_roles", "detect_family", "families", "family_ids",
    "file_family", "folder_family", "get_family", "named_family", "part_file_families", "register_family", "single_file_prefixes",
    "standalone_vae_family", "text_key_family", "unet_components", "unet_file_family",
    "unregister_family",
]
