"""One ComfyUI widget input described from our declaration of the field behind it: its
ComfyUI type and options (min/max/step/default from our ``Int``/``Float``, combo lists from our
``Choice`` through the same name maps import and export use, model files as combos of their
folder). For object_info (``comfy_object_info.py``).

A widget whose ComfyUI name differs from our field is renamed here; a widget ComfyUI has and
we do not (a setting our importer ignores or fixes) is described in ``COMFY_ONLY`` with the
values our importer takes without a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.interop.comfy_imageops import WEBP_METHODS
from app.interop.comfy_ipadapter import _SIMPLE_TYPES as IPADAPTER_SIMPLE_TYPES
from app.interop.comfy_merge import MERGE_BLOCKS
from app.interop.comfy_names import (
    IMAGE_METHODS,
    LATENT_METHODS,
    PREDICTIONS,
    SAMPLERS,
    SCHEDULERS,
    to_comfy,
)
from node_api.declaration import Boolean, Choice, Float, Int, NodeSpec, String, Value


@dataclass(frozen=True)
class FileCombo:
    """A combo of the files in ComfyUI's ``folder`` ("input": the input images), listed when
    object_info is asked for (the folder changes; the declarations do not)."""

    folder: str
    options: dict[str, Any] = field(default_factory=dict)


Widget = list[Any] | FileCombo  # [TYPE or [choices], {options}]

# ComfyUI widget name -> our field, where they differ (per class first, then for all)
_RENAMED = {"ckpt_name": "checkpoint", "sampler_name": "sampler", "lora_name": "lora",
            "vae_name": "vae", "control_net_name": "control_net", "model_name": "model",
            "upscale_method": "method", "scale_by": "factor", "multiplier": "cfg_rescale",
            "sampling": "prediction", "zsnr": "zero_terminal_snr", "noise_seed": "seed",
            "image": "path", "ipadapter_file": "ipadapter"}
_CLASS_RENAMED = {"KSampler": {"scheduler": "schedule"},
                  "KSamplerAdvanced": {"scheduler": "schedule"},
                  "CLIPVisionLoader": {"clip_name": "clip_vision"},
                  "CLIPLoader": {"clip_name": "clip_name1"},
                  "ModelMergeSubtract": {"multiplier": "ratio"},
                  "CLIPMergeSubtract": {"multiplier": "ratio"},
                  "HypernetworkLoader": {"hypernetwork_name": "hypernetwork"},
                  "LoadLatent": {"latent": "path"}, "GLIGENLoader": {"gligen_name": "gligen"},
                  "StyleModelLoader": {"style_model_name": "style_model"},
                  **{cls: {"reuse_threshold": "threshold", "start_percent": "start",
                           "end_percent": "end"} for cls in ("EasyCache", "LazyCache")}}
# the seed ComfyUI keeps on its samplers is our Noise Source's
SEED_NODE = "sampling.noise"
_SEEDS = ("seed", "noise_seed")

# ComfyUI's value names <-> ours, per widget (and per class where the same name differs)
_VALUE_MAPS: dict[str, dict[str, str]] = {
    "sampler_name": SAMPLERS, "scheduler": SCHEDULERS, "sampling": PREDICTIONS,
}
_CLASS_VALUE_MAPS: dict[tuple[str, str], dict[str, str]] = {
    ("LatentUpscale", "upscale_method"): LATENT_METHODS,
    ("LatentUpscaleBy", "upscale_method"): LATENT_METHODS,
    ("ImageScale", "upscale_method"): IMAGE_METHODS,
    ("ImageScaleBy", "upscale_method"): IMAGE_METHODS,
    ("IPAdapter", "weight_type"): IPADAPTER_SIMPLE_TYPES,
}
# ComfyUI's "enable"/"disable" combos over our on/off fields
_SWITCHES = {("KSamplerAdvanced", "add_noise"), ("KSamplerAdvanced", "return_with_leftover_noise")}
_ENABLE = ["enable", "disable"]

_TEMPORAL = {"temporal_size": ["INT", {"default": 64, "min": 8, "max": 4096, "step": 4}],
             "temporal_overlap": ["INT", {"default": 8, "min": 4, "max": 4096, "step": 4}]}
# ComfyUI widgets with no field of ours: the values our importer takes as they are (the
# video-only temporal tiles are ignored for images; "device" is our run's VRAM mode)
COMFY_ONLY: dict[tuple[str, str], Widget] = {
    **{(cls, "crop"): [["disabled"], {"default": "disabled"}]
       for cls in ("LatentUpscale", "ImageScale")},
    **{(cls, name): spec for cls in ("VAEDecodeTiled", "VAEEncodeTiled")
       for name, spec in _TEMPORAL.items()},
    ("CLIPTextEncodeSD3", "empty_padding"): [["empty_prompt"], {"default": "empty_prompt"}],
    **{(cls, "device"): [["default"], {"advanced": True}]
       for cls in ("CLIPLoader", "DualCLIPLoader")},
    ("CheckpointLoader", "config_name"): FileCombo("configs"),
    ("IPAdapterAdvanced", "embeds_scaling"): [["V only"], {"default": "V only"}],
    ("SaveAnimatedWEBP", "method"): [list(WEBP_METHODS), {"default": "default"}],
    **{(cls, "verbose"): ["BOOLEAN", {"default": False}] for cls in ("EasyCache", "LazyCache")},
    # ComfyUI lists the input folder's .latent files; ours is a path field (listed by name)
    ("LoadLatent", "latent"): [[], {}],
    # the model-specific block mergers' widgets: our Merge Models by Block's "blocks" text
    **{(cls, name): ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}]
       for cls, names in MERGE_BLOCKS.items() for name in names},
}
# defaults where ours (0: "off" in a node that serves several ComfyUI classes) would leave
# the ComfyUI class doing nothing: a resize to 0x0, a tiled VAE with tiling left to us, a
# CFG rescale of 0 (ComfyUI's and our importer's defaults)
_DEFAULTS: dict[tuple[str, str], Any] = {
    **{(cls, side): 512 for cls in ("LatentUpscale", "ImageScale") for side in ("width", "height")},
    **{(cls, name): value for cls in ("VAEDecodeTiled", "VAEEncodeTiled")
       for name, value in (("tile_size", 512), ("overlap", 64))},
    ("RescaleCFG", "multiplier"): 0.7,  # ours 0: no rescale, which RescaleCFG is not
}
# widgets ComfyUI lists under "optional"
OPTIONAL_WIDGETS = {("CLIPLoader", "device"), ("DualCLIPLoader", "device"),
                    ("DifferentialDiffusion", "strength")}
# our port types under ComfyUI's names
PORT_TYPES = {"IMAGE_EMBEDDING": "CLIP_VISION_OUTPUT", "IP_ADAPTER": "IPADAPTER"}


def comfy_type(port_type: str) -> str:
    return PORT_TYPES.get(port_type, port_type)


def our_field(cls: str, widget: str) -> str:
    """The name of our field behind ComfyUI ``cls``'s ``widget``."""
    return _CLASS_RENAMED.get(cls, {}).get(widget) or _RENAMED.get(widget, widget)


def describe(cls: str, widget: str, spec: NodeSpec | None,
             seed_spec: NodeSpec | None) -> Widget | None:
    """ComfyUI's ``[TYPE, {options}]`` of ``widget`` (None: nothing of ours describes it)."""
    if (cls, widget) in COMFY_ONLY:
        return COMFY_ONLY[cls, widget]
    source = spec.input(our_field(cls, widget)) if spec is not None else None
    if source is None and widget in _SEEDS and seed_spec is not None:
        source = seed_spec.input("seed")
    if not isinstance(source, Value):
        return None
    if (cls, widget) in _SWITCHES:
        described: Widget = [list(_ENABLE),
                             {"default": _ENABLE[0] if source.default else _ENABLE[1]}]
    elif widget == "zsnr":  # ours: auto/on/off; ComfyUI's: a switch, off by default
        described = ["BOOLEAN", {"default": False}]
    else:
        described = _from_value(source, _CLASS_VALUE_MAPS.get((cls, widget),
                                                            _VALUE_MAPS.get(widget)))
    extra: dict[str, Any] = {"tooltip": source.description} if source.description else {}
    if widget in _SEEDS:  # the front end's "randomize after each run" switch
        extra["control_after_generate"] = True
    if (cls, widget) in _DEFAULTS:
        extra["default"] = _DEFAULTS[cls, widget]
    if isinstance(described, FileCombo):
        return FileCombo(described.folder, {**described.options, **extra})
    described[1].update(extra)
    return described


def _from_value(value: Value, names: dict[str, str] | None) -> Widget:
    if isinstance(value, Int):
        return ["INT", _ranged(value.default, value.min, value.max, value.step)]
    if isinstance(value, Float):
        options = _ranged(value.default, value.min, value.max, value.step)
        if _decimals(value.default) > _decimals(value.step):  # ComfyUI's widget would round it
            options["round"] = False
        return ["FLOAT", options]
    if isinstance(value, Boolean):
        return ["BOOLEAN", {"default": value.default}]
    if isinstance(value, Choice):
        return _combo(value, names)
    if isinstance(value, String):
        if value.kind.startswith("model:"):
            return FileCombo(value.kind.removeprefix("model:"))
        if value.kind == "image":
            return FileCombo("input", {"image_upload": True})
        return ["STRING", {"default": value.default, "multiline": value.multiline}]
    return ["STRING", {"default": str(value.default)}]


def _combo(value: Choice, names: dict[str, str] | None) -> list[Any]:
    """Our choices as ComfyUI names them (those with no ComfyUI name are left out)."""
    if names is None:
        choices = list(value.choices)
        default = value.default
    else:
        ours = set(names.values())
        choices = list(dict.fromkeys(to_comfy(c, names) for c in value.choices if c in ours))
        default = to_comfy(value.default, names) if value.default in ours else None
    if default not in choices:
        default = choices[0] if choices else None
    return [choices, {"default": default} if default is not None else {}]


def _ranged(default: Any, low: Any, high: Any, step: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"default": default}
    if low is not None:
        options["min"] = low
    if high is not None:
        options["max"] = high
    options["step"] = step
    return options


def _decimals(number: float) -> int:
    text = repr(float(number))
    return 0 if "e" in text else len(text.split(".")[1].rstrip("0"))
