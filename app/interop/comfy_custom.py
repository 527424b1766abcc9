"""ComfyUI interop for split ("custom") sampling and KSamplerAdvanced: classes, widget values
in both directions, and which of our noise nodes ComfyUI keeps on the sampler (a seed widget)
rather than as a node of its own."""

from __future__ import annotations

from typing import Any

from app.interop.comfy_fields import FieldReader, show

# our sampler nodes that carry ComfyUI's seed (and add_noise) widgets: their noise folds in
SEEDED = {"KSampler": "sampling.sampler", "KSamplerAdvanced": "sampling.sampler_advanced",
          "SamplerCustom": "sampling.sampler_custom"}
_LATENT = "latent_image"


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    c = comfy_class
    return {
        "RandomNoise": c("sampling.noise", {}, ("noise",), ("noise_seed", None)),
        "DisableNoise": c("sampling.disable_noise", {}, ("noise",)),
        "KSamplerSelect": c("sampling.sampler_select", {}, ("sampler",), ("sampler_name",)),
        "BasicScheduler": c("sampling.basic_scheduler", {"model": "model"}, ("sigmas",),
                            ("scheduler", "steps", "denoise")),
        "KarrasScheduler": c("sampling.karras_scheduler", {}, ("sigmas",),
                             ("steps", "sigma_max", "sigma_min", "rho")),
        "ExponentialScheduler": c("sampling.exponential_scheduler", {}, ("sigmas",),
                                  ("steps", "sigma_max", "sigma_min")),
        "SDTurboScheduler": c("sampling.sd_turbo_scheduler", {"model": "model"}, ("sigmas",),
                              ("steps", "denoise")),
        "SplitSigmas": c("sampling.split_sigmas", {"sigmas": "sigmas"},
                         ("high_sigmas", "low_sigmas"), ("step",)),
        "FlipSigmas": c("sampling.flip_sigmas", {"sigmas": "sigmas"}, ("sigmas",)),
        "BasicGuider": c("sampling.basic_guider", {"model": "model",
                                                   "conditioning": "conditioning"}, ("guider",)),
        "CFGGuider": c("sampling.cfg_guider", {"model": "model", "positive": "positive",
                                               "negative": "negative"}, ("guider",), ("cfg",)),
        "DualCFGGuider": c("sampling.dual_cfg_guider",
                           {"model": "model", "cond1": "cond1", "cond2": "cond2",
                            "negative": "negative"}, ("guider",),
                           ("cfg_conds", "cfg_cond2_negative", "style")),
        "SamplerCustom": c("sampling.sampler_custom",
                           {"model": "model", "positive": "positive", "negative": "negative",
                            "sampler": "sampler", "sigmas": "sigmas", _LATENT: "latent"},
                           ("output", "denoised_output"), ("add_noise", "noise_seed", None, "cfg")),
        "SamplerCustomAdvanced": c("sampling.sampler_custom_advanced",
                                   {"noise": "noise", "guider": "guider", "sampler": "sampler",
                                    "sigmas": "sigmas", _LATENT: "latent"},
                                   ("output", "denoised_output")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any, sampler_name: Any,
                 schedule_name: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them). ``sampler_name`` and
    ``schedule_name`` map ComfyUI's names to ours (with a note where only the nearest)."""
    integer, number = fields.integer, fields.number
    if cls == "RandomNoise":
        return {"seed": fields.integer("noise_seed", 0, 0, 2**64 - 1)}
    if cls == "KSamplerSelect":
        return {"sampler": sampler_name(fields.text("sampler_name", "euler"))}
    if cls == "BasicScheduler":
        return {"scheduler": schedule_name(fields.text("scheduler", "normal")),
                "steps": integer("steps", 20), "denoise": number("denoise", 1.0)}
    if cls in ("KarrasScheduler", "ExponentialScheduler"):
        values = {"steps": integer("steps", 20), "sigma_max": number("sigma_max", 14.614642),
                  "sigma_min": number("sigma_min", 0.0291675)}
        return values | ({"rho": number("rho", 7.0)} if cls == "KarrasScheduler" else {})
    if cls == "SDTurboScheduler":
        return {"steps": integer("steps", 1), "denoise": number("denoise", 1.0)}
    if cls == "SplitSigmas":
        return {"step": integer("step", 0)}
    if cls == "CFGGuider":
        return {"cfg": number("cfg", 8.0)}
    if cls == "DualCFGGuider":
        style = fields.text("style", "regular")
        if style not in ("regular", "nested"):
            note(f"{cls}: style {show(style)} is not supported here; using 'regular'")
            style = "regular"
        return {"cfg_conds": number("cfg_conds", 8.0),
                "cfg_cond2_negative": number("cfg_cond2_negative", 8.0), "style": style}
    if cls == "SamplerCustom":
        return {"seed": fields.integer("noise_seed", 0, 0, 2**64 - 1),
                "add_noise": fields.flag("add_noise", True), "cfg": number("cfg", 8.0)}
    if cls in ("DisableNoise", "FlipSigmas", "BasicGuider", "SamplerCustomAdvanced"):
        return {}
    return None


def advanced_values(fields: FieldReader) -> dict[str, Any]:
    """KSamplerAdvanced's own widgets (beside the KSampler ones)."""
    return {"add_noise": _switch(fields, "add_noise", True),
            "start_at_step": fields.integer("start_at_step", 0, 0),
            "end_at_step": fields.integer("end_at_step", 10000, 0),
            "return_with_leftover_noise": _switch(fields, "return_with_leftover_noise", False)}


def _switch(fields: FieldReader, name: str, default: bool) -> bool:
    """ComfyUI's "enable"/"disable" combo."""
    value = fields.text(name, "enable" if default else "disable")
    if value not in ("enable", "disable"):
        fields.fail(name, f"expected 'enable' or 'disable', got {show(value)}")
    return value == "enable"


EXPORT_CLASSES = {spec: cls for cls, spec in {
    "DisableNoise": "sampling.disable_noise", "KSamplerSelect": "sampling.sampler_select",
    "BasicScheduler": "sampling.basic_scheduler", "KarrasScheduler": "sampling.karras_scheduler",
    "ExponentialScheduler": "sampling.exponential_scheduler",
    "SDTurboScheduler": "sampling.sd_turbo_scheduler", "SplitSigmas": "sampling.split_sigmas",
    "FlipSigmas": "sampling.flip_sigmas", "BasicGuider": "sampling.basic_guider",
    "CFGGuider": "sampling.cfg_guider", "DualCFGGuider": "sampling.dual_cfg_guider",
    "SamplerCustom": "sampling.sampler_custom",
    "SamplerCustomAdvanced": "sampling.sampler_custom_advanced",
    "KSamplerAdvanced": "sampling.sampler_advanced",
}.items()}


def export_inputs(classes: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Our input name -> ComfyUI's, per node type (from the import table)."""
    inputs = {classes[cls].type_id: {o: c for c, o in classes[cls].links.items()}
              for cls in EXPORT_CLASSES.values() if cls != "KSamplerAdvanced"}
    inputs["sampling.sampler_advanced"] = {"model": "model", "positive": "positive",
                                           "negative": "negative", "latent": _LATENT}
    return inputs


def export_values(node_type: str, v: dict[str, Any], seed: int, noise_off: bool,
                  sampler_name: Any) -> dict[str, Any]:
    """ComfyUI widget inputs of one of ``EXPORT_CLASSES``' node types (``seed``/``noise_off``:
    of the noise node feeding a sampler; ``sampler_name`` maps our names to ComfyUI's)."""
    if node_type == "sampling.sampler_select":
        return {"sampler_name": sampler_name(v.get("sampler", "euler"))}
    if node_type == "sampling.sampler_custom":
        return {"add_noise": bool(v.get("add_noise")) and not noise_off, "noise_seed": seed,
                "cfg": v.get("cfg")}
    if node_type == "sampling.sampler_advanced":
        enable = {True: "enable", False: "disable"}
        return {"add_noise": enable[bool(v.get("add_noise")) and not noise_off],
                "noise_seed": seed, "steps": v.get("steps"), "cfg": v.get("cfg"),
                "sampler_name": sampler_name(v.get("sampler", "euler")),
                "scheduler": v.get("schedule"), "start_at_step": v.get("start_at_step"),
                "end_at_step": v.get("end_at_step"),
                "return_with_leftover_noise": enable[bool(v.get("return_with_leftover_noise"))]}
    names = {"sampling.basic_scheduler": ("scheduler", "steps", "denoise"),
             "sampling.karras_scheduler": ("steps", "sigma_max", "sigma_min", "rho"),
             "sampling.exponential_scheduler": ("steps", "sigma_max", "sigma_min"),
             "sampling.sd_turbo_scheduler": ("steps", "denoise"),
             "sampling.split_sigmas": ("step",), "sampling.cfg_guider": ("cfg",),
             "sampling.dual_cfg_guider": ("cfg_conds", "cfg_cond2_negative", "style")}
    return {k: v.get(k) for k in names.get(node_type, ())}
