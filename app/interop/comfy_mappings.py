"""The one list of ComfyUI mapping modules, and the lookups over it.

A mapping module (``app/interop/comfy_<topic>.py``) maps a group of ComfyUI classes to our
node types in both directions. It exposes:

- ``comfy_classes(comfy_class) -> dict[str, ComfyClass]``: the ComfyUI classes it imports
  (``comfy_class`` is ``comfy_names.ComfyClass``, passed in to keep the import one-way);
- ``comfy_values(cls, fields, note) -> dict | None``: our values for one of its classes'
  widgets (None: not one of its classes);
- ``EXPORT_CLASSES: dict[our type, ComfyUI class]`` and
  ``EXPORT_INPUTS: dict[our type, dict[our input, ComfyUI input]]`` for export;
- optionally ``export_node(type, values) -> (class, widgets) | None`` (it picks the class by
  the values), else ``export_values(type, values) -> widgets`` for its ``EXPORT_CLASSES``;
- optionally ``export_problem(graph, node) -> str | None``: why a node of its types has no
  ComfyUI counterpart with these values.

Adding a module is one line in ``MAPPINGS``. No two modules claim the same ComfyUI class or
node type (a test checks it), so their order does not matter.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from app.interop import (
    comfy_basic,
    comfy_cache,
    comfy_conditioning,
    comfy_control,
    comfy_flowcontrol,
    comfy_flux_edit,
    comfy_gligen,
    comfy_imageops,
    comfy_ipadapter,
    comfy_latent_files,
    comfy_legacy,
    comfy_masks,
    comfy_merge,
    comfy_parts,
    comfy_patches,
    comfy_postprocess,
    comfy_style,
    comfy_unclip,
)

if TYPE_CHECKING:
    from app.engine.graph import Graph, NodeInstance
    from app.interop.comfy_fields import FieldReader

MAPPINGS: tuple[ModuleType, ...] = (
    comfy_basic,  # small core nodes: batches, latent transforms, empty images
    comfy_cache,  # EasyCache / LazyCache as our Step Cache
    comfy_conditioning,  # Conditioning* operations, CLIPSetLastLayer
    comfy_control,  # diff ControlNets, ControlNet-Union types
    comfy_flowcontrol,  # SD3/Flux ControlNets: ControlNetApplySD3
    comfy_flux_edit,  # Flux Kontext: ReferenceLatent, FluxKontextImageScale
    comfy_gligen,  # GLIGENLoader, GLIGENTextBoxApply
    comfy_imageops,  # image/latent operations, ip2p, animated saves, tiled VAE
    comfy_ipadapter,  # IP-Adapter custom nodes, Canny
    comfy_latent_files,  # SaveLatent/LoadLatent .latent files
    comfy_legacy,  # DiffusersLoader, "ConditioningAverage " (import only)
    comfy_masks,  # nodes_mask.py: Grow/Feather/Crop/Invert/Solid/Threshold Mask, composites
    comfy_merge,  # ModelMerge*, CLIPMerge*: model merging
    comfy_parts,  # model part loaders, SD3 encode/shift/latent
    comfy_patches,  # DifferentialDiffusion
    comfy_postprocess,  # ImageBlend, ImageBlur, ImageSharpen, ImageQuantize
    comfy_style,  # StyleModelLoader/StyleModelApply (Flux Redux)
    comfy_unclip,  # SD 2.1 unCLIP
)


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """Every mapping module's ComfyUI classes."""
    classes: dict[str, Any] = {}
    for module in MAPPINGS:
        classes.update(module.comfy_classes(comfy_class))
    return classes


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for a ComfyUI class a mapping module imports, else None."""
    for module in MAPPINGS:
        if (values := module.comfy_values(cls, fields, note)) is not None:
            return values
    return None


def export_classes() -> dict[str, str]:
    """Our node type -> ComfyUI class, over every mapping module."""
    return {t: cls for module in MAPPINGS for t, cls in module.EXPORT_CLASSES.items()}


def export_inputs() -> dict[str, dict[str, str]]:
    """Our node type -> (our input -> ComfyUI input), over every mapping module."""
    return {t: links for module in MAPPINGS for t, links in module.EXPORT_INPUTS.items()}


def export_node(node_type: str, values: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(ComfyUI class, widget inputs) of a node a mapping module exports, else None."""
    for module in MAPPINGS:
        if hasattr(module, "export_node"):
            if (exported := module.export_node(node_type, values)) is not None:
                return exported
        elif node_type in module.EXPORT_CLASSES:
            return module.EXPORT_CLASSES[node_type], module.export_values(node_type, values)
    return None


def export_problem(graph: Graph, node: NodeInstance) -> str | None:
    """Why a node has no ComfyUI counterpart with its values, or None."""
    for module in MAPPINGS:
        if hasattr(module, "export_problem") and (why := module.export_problem(graph, node)):
            return why
    return None
