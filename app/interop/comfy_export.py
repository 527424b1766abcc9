"""Export a graph to ComfyUI's API "prompt" format (``{id: {class_type, inputs, _meta}}``).

Only graphs made of mappable nodes export; the others are all named in one error. Our
Noise Source folds into the KSampler it feeds (ComfyUI keeps the seed on the sampler).
"""

from __future__ import annotations

from typing import Any

from app.engine.graph import Graph, NodeInstance
from app.engine.registry import Registry
from app.engine.subgraphs import runnable
from app.interop import comfy_mappings
from app.interop.comfy_custom import EXPORT_CLASSES as CUSTOM_CLASSES
from app.interop.comfy_custom import SEEDED
from app.interop.comfy_custom import export_inputs as custom_inputs
from app.interop.comfy_custom import export_values as custom_values
from app.interop.comfy_ipadapter import bundled_link
from app.interop.comfy_names import (
    CLASSES,
    IMAGE_METHODS,
    LATENT_METHODS,
    PREDICTIONS,
    SAMPLERS,
    to_comfy,
)
from pipelines.errors import StudioError

_CLASS = {
    "loaders.checkpoint": "CheckpointLoaderSimple", "conditioning.text_encode": "CLIPTextEncode",
    "latent.empty": "EmptyLatentImage", "sampling.sampler": "KSampler",
    "vae.decode": "VAEDecode", "vae.encode": "VAEEncode", "image.save": "SaveImage",
    "image.preview": "PreviewImage", "image.load": "LoadImage",
    "upscale.load_model": "UpscaleModelLoader", "upscale.with_model": "ImageUpscaleWithModel",
    "loaders.lora": "LoraLoader", "loaders.vae": "VAELoader",
    "latent.set_noise_mask": "SetLatentNoiseMask", "vae.encode_inpaint": "VAEEncodeForInpaint",
    "model.sampling": "ModelSamplingDiscrete",
    "loaders.clip_vision": "CLIPVisionLoader", "unclip.clip_vision_encode": "CLIPVisionEncode",
    "loaders.controlnet": "ControlNetLoader", "conditioning.apply_controlnet": "ControlNetApplyAdvanced",
    # Flux.1
    "conditioning.flux_guidance": "FluxGuidance",
    "conditioning.text_encode_flux": "CLIPTextEncodeFlux", "model.sampling_flux": "ModelSamplingFlux",
}
# our input name -> ComfyUI input name, per our node type
_INPUTS = {
    "conditioning.text_encode": {"clip": "clip"},
    "sampling.sampler": {"model": "model", "positive": "positive", "negative": "negative",
                         "latent": "latent_image"},
    "vae.decode": {"latent": "samples", "vae": "vae"},
    "vae.encode": {"image": "pixels", "vae": "vae"},
    "image.save": {"image": "images"}, "image.preview": {"image": "images"},
    "latent.upscale": {"latent": "samples"}, "image.upscale": {"image": "image"},
    "upscale.with_model": {"upscale_model": "upscale_model", "image": "image"},
    "loaders.lora": {"model": "model", "clip": "clip"},
    "latent.set_noise_mask": {"latent": "samples", "mask": "mask"},
    "vae.encode_inpaint": {"image": "pixels", "vae": "vae", "mask": "mask"},
    "model.sampling": {"model": "model"},
    "unclip.clip_vision_encode": {"clip_vision": "clip_vision", "image": "image"},
    "conditioning.apply_controlnet": {"positive": "positive", "negative": "negative",
                                      "control_net": "control_net", "image": "image", "vae": "vae"},
    "conditioning.flux_guidance": {"conditioning": "conditioning"},
    "conditioning.text_encode_flux": {"clip": "clip"}, "model.sampling_flux": {"model": "model"},
}
_CLASS.update(CUSTOM_CLASSES)
_INPUTS.update(custom_inputs(CLASSES))
_SEEDED = set(SEEDED.values())  # samplers whose noise ComfyUI keeps as a seed widget
_NOISE = {"sampling.noise": "RandomNoise", "sampling.disable_noise": "DisableNoise"}
_CUSTOM = "sampling.sampler_custom_advanced"  # takes its noise as a node
_CLASS.update(comfy_mappings.export_classes())  # every module in comfy_mappings.MAPPINGS
_INPUTS.update(comfy_mappings.export_inputs())

class ExportError(StudioError, ValueError):
    """The graph uses nodes that ComfyUI's format cannot express."""


def to_comfy_api(graph: Graph, registry: Registry | None = None) -> dict[str, Any]:
    """The ComfyUI API prompt of ``graph``.

    The API format has no node modes (ComfyUI's own "Save (API)" leaves muted nodes out and
    wires bypassed ones through), so the graph a run would execute is exported.

    Raises:
        ExportError: naming every node that has no ComfyUI counterpart.
    """
    if registry is None:
        from app.engine.registry import default_registry

        registry = default_registry()
    graph = runnable(graph, registry)
    problems = []
    for node in graph.nodes.values():
        mappable = node.type in _CLASS or node.type in ("latent.upscale", "image.upscale")
        if node.type in _NOISE:  # a seed on ComfyUI's samplers, or a node for the custom one
            targets = {graph.nodes[e.target].type for e in graph.outgoing(node.id)}
            takes = _SEEDED | {_CUSTOM} if node.type == "sampling.noise" else (
                _SEEDED - {"sampling.sampler"}) | {_CUSTOM}
            mappable = bool(targets) and targets <= takes
        if not mappable:
            problems.append(f"{node.label()} ({node.type})")
        elif why := comfy_mappings.export_problem(graph, node):
            problems.append(f"{node.label()} ({why})")
        elif node.type == "model.sampling" and (why := _sampling_problem(node.values)):
            problems.append(f"{node.label()} ({why})")
        elif node.type == "conditioning.apply_controlnet" and (
                "mask" in (links := graph.incoming(node.id)) or "negative" not in links):
            problems.append(f"{node.label()} (ComfyUI's ControlNetApplyAdvanced needs a negative "
                            "and takes no mask)")
    if problems:
        raise ExportError("these nodes have no ComfyUI counterpart: " + ", ".join(problems))
    defaults = _defaults(registry)
    prompt: dict[str, Any] = {}
    for node in graph.nodes.values():
        values = {**defaults.get(node.type, {}), **node.values}
        incoming = graph.incoming(node.id)
        if node.type in _NOISE:
            if _CUSTOM in {graph.nodes[e.target].type for e in graph.outgoing(node.id)}:
                seed = {"noise_seed": values.get("seed", 0)} if node.type == "sampling.noise" \
                    else {}
                prompt[node.id] = {"class_type": _NOISE[node.type], "inputs": seed,
                                   "_meta": {"title": node.title}}
            continue
        noise = incoming.get("noise")
        noise_node = graph.nodes[noise.source] if noise else None
        seed = (noise_node.values if noise_node else {}).get(
            "seed", defaults.get("sampling.noise", {}).get("seed", 0))
        if node.type in CUSTOM_CLASSES:
            noise_off = noise_node is not None and noise_node.type == "sampling.disable_noise"
            cls = _CLASS[node.type]
            inputs = custom_values(node.type, values, seed, noise_off,
                                   lambda name: to_comfy(name, SAMPLERS))
        else:
            cls, inputs = _node(node, values, incoming.get("clip"))
        for ours, comfy in _INPUTS.get(node.type, {}).items():
            edge = incoming.get(ours)
            if edge is not None and not bundled_link(graph, node.id, ours):
                inputs[comfy] = [edge.source, _slot(graph, edge.source, edge.output)]
        if node.type == "sampling.sampler":
            inputs["seed"] = seed
        prompt[node.id] = {"class_type": cls, "inputs": inputs, "_meta": {"title": node.title}}
    return prompt


def _node(node: NodeInstance, v: dict[str, Any], clip: Any = True
          ) -> tuple[str, dict[str, Any]]:
    """The ComfyUI class and widget inputs of ``node`` (``clip``: its clip link, if any)."""
    t = node.type
    if (exported := comfy_mappings.export_node(t, v)) is not None:  # the mapping modules
        return exported
    if t == "loaders.checkpoint":
        return _CLASS[t], {"ckpt_name": _file(v.get("checkpoint"), "checkpoints")}
    if t == "conditioning.text_encode":
        return _CLASS[t], {"text": v.get("text", "")}
    if t == "latent.empty":
        return _CLASS[t], {k: v.get(k) for k in ("width", "height", "batch_size")}
    if t == "sampling.sampler":
        return _CLASS[t], {
            "steps": v.get("steps"), "cfg": v.get("cfg"),
            "sampler_name": to_comfy(v.get("sampler", "euler"), SAMPLERS),
            "scheduler": v.get("schedule", "normal"), "denoise": v.get("denoise")}
    if t == "image.save":
        return _CLASS[t], {"filename_prefix": v.get("filename_prefix")}
    if t in ("conditioning.flux_guidance", "conditioning.text_encode_flux",
             "model.sampling_flux"):  # Flux.1: widgets named as our inputs
        from app.interop.comfy_values import FLUX_WIDGETS

        return _CLASS[t], {k: v.get(k, d) for k, d in FLUX_WIDGETS[_CLASS[t]]}
    if t == "image.load":
        return _CLASS[t], {"image": v.get("path")}
    if t == "upscale.load_model":
        return _CLASS[t], {"model_name": _file(v.get("model"), "upscale_models", ".pth")}
    if t == "loaders.vae":
        return _CLASS[t], {"vae_name": _file(v.get("vae"), "vae")}
    if t == "loaders.clip_vision":
        return _CLASS[t], {"clip_name": _file(v.get("clip_vision"), "clip_vision")}
    if t == "unclip.clip_vision_encode":
        return _CLASS[t], {"crop": v.get("crop", "center")}
    if t == "loaders.controlnet":
        return _CLASS[t], {"control_net_name": _file(v.get("control_net"), "controlnet")}
    if t == "conditioning.apply_controlnet":
        return _CLASS[t], {k: v.get(k) for k in ("strength", "start_percent", "end_percent")}
    if t == "loaders.lora" and clip is None:  # a LoRA on the model alone
        return "LoraLoaderModelOnly", {"lora_name": _file(v.get("lora"), "loras"),
                                       "strength_model": v.get("strength_model")}
    if t == "loaders.lora":
        return _CLASS[t], {"lora_name": _file(v.get("lora"), "loras"), "strength_model": v.get("strength_model"),
                           "strength_clip": v.get("strength_clip")}
    if t == "vae.encode_inpaint":
        return _CLASS[t], {"grow_mask_by": v.get("grow_mask_by")}
    if t == "model.sampling":
        if _rescale_only(v):
            return "RescaleCFG", {"multiplier": v.get("cfg_rescale")}
        return _CLASS[t], {"sampling": to_comfy(v.get("prediction"), PREDICTIONS),
                           "zsnr": v.get("zero_terminal_snr") == "on"}
    if t in ("latent.upscale", "image.upscale"):
        latent = t == "latent.upscale"
        method = to_comfy(v.get("method"), LATENT_METHODS if latent else IMAGE_METHODS)
        if (v.get("factor") or 0) > 0:
            return ("LatentUpscaleBy" if latent else "ImageScaleBy",
                    {"upscale_method": method, "scale_by": v.get("factor")})
        return ("LatentUpscale" if latent else "ImageScale",
                {"upscale_method": method, "width": v.get("width", 0),
                 "height": v.get("height", 0), "crop": "disabled"})
    return _CLASS[t], {}


def _file(name: object, kind: str, default: str = ".safetensors") -> object:
    """A model named as ComfyUI lists it: the file name with its extension."""
    from app.interop.model_names import file_name

    return file_name(name, kind, default)[0] if isinstance(name, str) else name


def _rescale_only(values: dict[str, Any]) -> bool:
    """Model Sampling that only rescales CFG: ComfyUI's RescaleCFG node."""
    return (values.get("prediction", "auto") == "auto"
            and values.get("zero_terminal_snr", "auto") == "auto"
            and (values.get("cfg_rescale") or 0) > 0)


def _sampling_problem(values: dict[str, Any]) -> str | None:
    """Why a Model Sampling node has no single ComfyUI counterpart, or None."""
    if _rescale_only(values):
        return None
    if values.get("prediction", "auto") == "auto":
        return "ComfyUI's ModelSamplingDiscrete needs a prediction type; pick epsilon or " \
            "v_prediction"
    if (values.get("cfg_rescale") or 0) > 0:
        return "ComfyUI keeps the CFG rescale in a separate node; split it into two Model " \
            "Sampling nodes, one with only the CFG rescale"
    return None


def _slot(graph: Graph, node_id: str, output: str) -> int:
    """ComfyUI numbers outputs in declaration order, as our node types list them."""
    from app.interop.comfy_names import CLASSES

    source_type = graph.nodes[node_id].type
    outputs = next((c.outputs for c in CLASSES.values() if c.type_id == source_type), ())
    return outputs.index(output) if output in outputs else 0


def _defaults(registry: Registry | None) -> dict[str, dict[str, Any]]:
    from app.engine.registry import default_registry

    registry = registry if registry is not None else default_registry()
    return {spec.type_id: spec.default_values() for spec in registry}
