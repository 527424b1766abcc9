"""ComfyUI's ``/object_info`` for the ComfyUI classes we import and export, built from our
node declarations: what a ComfyUI client (a front end, a script, Open WebUI) reads to learn
the nodes, their inputs in order, widget ranges and defaults, the sampler and model-file
lists, and the outputs. The entry shape is ComfyUI's ``server.py`` ``node_info``.

The class tables (``comfy_names.CLASSES``) say which of our nodes a ComfyUI class is, its
links (ComfyUI name -> ours) and its widgets in ComfyUI's order; the widgets' types and
options come from our declarations (``comfy_widgets.py``). Input order follows ComfyUI's
``INPUT_TYPES``: links first, then widgets, except where ``_ORDER`` says otherwise.

Cheap: no torch, no model loading. The declarations' part is kept per registry; the model
file lists are read (names only) on each call, since files come and go.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.interop.comfy_names import CLASSES, ComfyClass
from app.interop.comfy_widgets import (
    OPTIONAL_WIDGETS,
    SEED_NODE,
    FileCombo,
    comfy_type,
    describe,
)

if TYPE_CHECKING:
    from app.engine.registry import Registry
    from node_api.declaration import NodeSpec

Lister = Callable[[str], list[str]]  # ComfyUI folder name ("input": input images) -> names

# ComfyUI's required-input order where it mixes links among the widgets
_ORDER: dict[str, tuple[str, ...]] = {
    "KSampler": ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                 "negative", "latent_image", "denoise"),
    "KSamplerAdvanced": ("model", "add_noise", "noise_seed", "steps", "cfg", "sampler_name",
                         "scheduler", "positive", "negative", "latent_image", "start_at_step",
                         "end_at_step", "return_with_leftover_noise"),
    "SamplerCustom": ("model", "add_noise", "noise_seed", "cfg", "positive", "negative",
                      "sampler", "sigmas", "latent_image"),
    "CLIPTextEncode": ("text", "clip"),
    "GLIGENTextBoxApply": ("conditioning_to", "clip", "gligen_textbox_model", "text", "width",
                           "height", "x", "y"),
}
# links ComfyUI requires that ours may leave out (a LoRA on the model alone, ControlNet on
# the positive alone): a client building a prompt for ComfyUI gives them
_REQUIRED_LINKS = {("LoraLoader", "clip"), ("ControlNetApplyAdvanced", "negative"),
                   ("GLIGENTextBoxApply", "gligen_textbox_model")}
# links ComfyUI (IPAdapter_plus) takes as optional: the unified loader's bundle may carry it
_OPTIONAL_LINKS = {("IPAdapterAdvanced", "clip_vision")}
# hidden inputs ComfyUI's savers take (the prompt and the UI workflow, written into the file)
_SAVER_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
_SAVERS = ("SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG")
# ComfyUI classes it marks deprecated
_DEPRECATED = {"CheckpointLoader", "ControlNetApply"}

_CACHE: weakref.WeakKeyDictionary[Registry, dict[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary())


def object_info(registry: Registry | None = None, *,
                lister: Lister | None = None) -> dict[str, dict[str, Any]]:
    """ComfyUI class name -> its ``node_info`` entry, for every class we map.

    ``lister`` names the files of a ComfyUI model folder (default: our model folders, via
    ``comfy_folders.files``); tests pass their own.
    """
    if registry is None:
        from app.engine.registry import default_registry

        registry = default_registry()
    templates = _CACHE.get(registry)
    if templates is None:
        templates = {cls: entry for cls, table in CLASSES.items()
                     if (entry := _entry(cls, table, registry)) is not None}
        _CACHE[registry] = templates
    if lister is None:
        from app.interop.comfy_folders import files

        lister = files
    listed: dict[str, list[str]] = {}

    def names(folder: str) -> list[str]:
        if folder not in listed:
            listed[folder] = list(lister(folder))
        return listed[folder]

    return {cls: _with_files(entry, names) for cls, entry in templates.items()}


def _with_files(entry: dict[str, Any], names: Lister) -> dict[str, Any]:
    """A copy of ``entry`` whose file combos list the files there now."""
    out = copy.deepcopy(entry)
    for group in out["input"].values():
        for name, spec in group.items():
            if isinstance(spec, FileCombo):
                group[name] = [list(names(spec.folder)), dict(spec.options)]
    return out


def _entry(cls: str, table: ComfyClass, registry: Registry) -> dict[str, Any] | None:
    spec = registry.get(table.type_id)
    if spec is None:  # a node of ours this registry lacks (a test's private registry)
        return None
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for comfy, ours in table.links.items():
        link = spec.input(ours)
        kind = comfy_type(link.type) if link is not None else "*"
        loose = (cls, comfy) in _OPTIONAL_LINKS or (
            link is not None and link.optional and (cls, comfy) not in _REQUIRED_LINKS)
        (optional if loose else required)[comfy] = [kind, {}]
    for comfy in table.dropped:  # links ComfyUI has and we ignore: typed by their name
        required[comfy] = [comfy.upper(), {}]
    seed_spec = registry.get(SEED_NODE)
    for widget in table.widgets:
        if widget is None:
            continue
        described = describe(cls, widget, spec, seed_spec)
        if described is not None:
            (optional if (cls, widget) in OPTIONAL_WIDGETS else required)[widget] = described
    required = _ordered(cls, required)
    inputs: dict[str, dict[str, Any]] = {"required": required}
    if optional:
        inputs["optional"] = optional
    if cls in _SAVERS:
        inputs["hidden"] = dict(_SAVER_HIDDEN)
    outputs = [_output_type(spec, name) for name in table.outputs]
    repeated = len(set(outputs)) < len(outputs)
    return {
        "input": inputs,
        "input_order": {group: list(values) for group, values in inputs.items()},
        "is_input_list": False,
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        # ComfyUI names the outputs by their type unless two share one
        "output_name": list(table.outputs) if repeated else list(outputs),
        "name": cls,
        "display_name": _display_name(cls, spec),
        "description": spec.description,
        "python_module": "nodes",
        "category": spec.category,
        "output_node": spec.is_output,
        "output_tooltips": [_output_tooltip(spec, name) for name in table.outputs],
        "deprecated": cls in _DEPRECATED,
        "experimental": False,
    }


def _ordered(cls: str, inputs: dict[str, Any]) -> dict[str, Any]:
    order = _ORDER.get(cls)
    if order is None:
        return inputs
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(inputs.items(), key=lambda item: rank.get(item[0], len(rank))))


def _output_type(spec: NodeSpec, name: str) -> str:
    output = spec.output(name)
    return comfy_type(output.type) if output is not None else "*"


def _output_tooltip(spec: NodeSpec, name: str) -> str:
    output = spec.output(name)
    return output.description if output is not None else ""


def _display_name(cls: str, spec: NodeSpec) -> str:
    """Our title; the second and later classes for the same node of ours add their name."""
    first = next(name for name, table in CLASSES.items() if table.type_id == spec.type_id)
    return spec.title if cls == first else f"{spec.title} ({cls})"
