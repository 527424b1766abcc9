"""Model families as data: one ``ModelFamily`` per family (sd1, sd2, sdxl, sdxl_refiner, sd3, demo,
the DeepFloyd IF stages deepfloyd_if and deepfloyd_if_sr, Flux.1 flux_dev, flux_schnell and flux_fill (Fill),
the SD upscalers sd_x4_upscaler and sd_x2_latent_upscaler, SD 2.1 unCLIP sd21_unclip, InstructPix2Pix sd1_ip2p, demo_sr (the demo's super-resolution stage),
and ``unknown`` for unnamed UNet folders), registered in detection order. The loader, prompt
encoding, the denoising loop, previews, precision and placement ask the family; nothing
outside this package tests which family a model is. To add one, see docs/ARCHITECTURE.md,
"Adding a model family"."""

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
from pipelines.families.demo_sr import DemoSR
from pipelines.families.flux import FluxDev, FluxSchnell
from pipelines.families.flux_edit import FluxFill
from pipelines.families.ip2p import SD1InstructPix2Pix
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
    input_variant,
    named_family,
    part_file_families,
    register_family,
    single_file_prefixes,
    standalone_vae_family,
    text_file_family,
    text_file_types,
    text_key_family,
    unet_file_family,
    unregister_family,
)
from pipelines.families.sd import SD1, SD2
from pipelines.families.sd3 import SD3
from pipelines.families.sd_unclip import SD21UnCLIP
from pipelines.families.sd_upscale import SDLatentUpscaleX2, SDUpscaleX4
from pipelines.families.sdxl import SDXL, SDXLRefiner
from pipelines.families.unknown import Unknown

# Detection order: IF's text-embedding pixel UNets, SDXL's text_time test and Kandinsky's image
# embedding test before the plain context-width tests; Karlo (whose folder also has a prior/)
# before the Kandinsky prior; the SD upscalers, SD 2.1 unCLIP (its projection class embedding;
# context width of SD2) and InstructPix2Pix (SD 1.x with 8 input channels) before SD1/SD2.
for _family in (IFStage1(), IFStage2(), Kandinsky22(), Karlo(), Kandinsky22Prior(),
                SDUpscaleX4(), SDLatentUpscaleX2(), SD21UnCLIP(), SD1InstructPix2Pix(), SD1(), SD2(),
                SDXL(), SDXLRefiner(), SD3(), FluxDev(), FluxSchnell(), FluxFill(), Demo(), DemoSR(), Unknown()):
    register_family(_family)

__all__ = [
    "ROLES", "UNKNOWN", "Component", "LatentFormat", "ModelFamily", "SingleFileLayout",
    "checkpoint_family", "component_roles", "detect_family", "families", "family_ids",
    "file_family", "folder_family", "get_family", "input_variant", "named_family", "part_file_families", "register_family", "single_file_prefixes",
    "standalone_vae_family", "text_file_family", "text_file_types", "text_key_family", "unet_components", "unet_file_family",
    "unregister_family",
]
