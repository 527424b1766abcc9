"""AUTOMATIC1111 PNGs: their ``parameters`` text opened as an equivalent txt2img workflow.

The text is the prompt, an optional ``Negative prompt: ...`` and a last line of settings:
``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: name, ...``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.workflow import parse_json
from app.interop.a1111_chain import Lora, add_clip_skip, add_loras, add_vae, take_loras
from app.interop.a1111_hires import USED as HIRES_FIELDS
from app.interop.a1111_hires import add_hires
from app.interop.a1111_json import read_json, tool_of
from app.interop.a1111_noise import NOISE_FIELDS, add_ensd
from app.interop.comfy_fields import show
from app.interop.comfy_names import NEAREST_SAMPLERS, NEAREST_SCHEDULERS, to_ours
from app.interop.comfy_names import SAMPLERS as COMFY_SAMPLERS
from app.interop.comfy_names import SCHEDULERS as COMFY_SCHEDULERS
from app.interop.model_names import file_name
from app.interop.recipes import txt2img

# The settings line is split into "Key: value" items at commas outside quotes (A1111
# quotes values holding commas). Every pattern here is linear: possessive quantifiers, no
# quantifier over a group that can match the same text two ways, so hostile text of any
# length is parsed in one pass (A1111's own pattern backtracks quadratically).
_ITEM = re.compile(r'(?:"(?:[^"\\]++|\\.)*+"?|[^",]++)++', re.S)
_KEY = re.compile(r"\w[\w \-/+.()]*+")
_MAX_KEY = 100

# A1111's UniPC runs the bh1 variant unless its settings say otherwise (uni_pc_variant)
SAMPLERS = {
    "euler a": "euler_ancestral", "euler": "euler", "heun": "heun", "dpm2": "dpm_2",
    "dpm2 a": "dpm_2_ancestral", "dpm++ 2m": "dpmpp_2m", "dpm++ 2m sde": "dpmpp_2m_sde",
    "ddim": "ddim", "ddpm": "ddpm", "unipc": "unipc_bh1", "lcm": "lcm", "deis": "deis",
    "lms": "lms", "dpm++ sde": "dpmpp_sde",
    # not ours: the nearest
    "dpm++ 2s a": "euler_ancestral",
    "dpm++ 3m sde": "dpmpp_2m_sde", "plms": "ddim", "dpm fast": "dpmpp_2m",
    "dpm adaptive": "dpmpp_2m", "restart": "heun",
}
EXACT_SAMPLERS = {"euler a", "euler", "heun", "dpm2", "dpm2 a", "dpm++ 2m", "dpm++ 2m sde",
                  "ddim", "ddpm", "unipc", "lcm", "deis", "lms", "dpm++ sde"}
SCHEDULES = {"automatic": "normal", "uniform": "normal", "karras": "karras",
             "exponential": "exponential", "sgm uniform": "sgm_uniform", "beta": "beta",
             "normal": "normal", "sgm_uniform": "sgm_uniform"}


def parse_parameters(text: str) -> dict[str, Any]:
    """Split A1111 parameters into ``prompt``, ``negative`` and a ``settings`` dict."""
    lines = text.strip().splitlines()
    settings: dict[str, str] = {}
    if lines and re.match(r"\s*Steps:\s*\d", lines[-1]):
        settings = _settings(lines.pop())
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        if negative_lines is None and line.startswith("Negative prompt:"):
            negative_lines = [line[len("Negative prompt:"):].strip()]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    return {"prompt": "\n".join(prompt_lines).strip(),
            "negative": "\n".join(negative_lines or []).strip(), "settings": settings}


def _settings(line: str) -> dict[str, str]:
    """The ``Key: value`` items of a settings line, in one linear pass."""
    settings: dict[str, str] = {}
    for item in _ITEM.findall(line):
        key, colon, value = item.partition(":")
        key = key.strip()
        if not colon or len(key) > _MAX_KEY or not _KEY.fullmatch(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unquote(value)
        settings[key] = value
    return settings


def _unquote(value: str) -> str:
    """A quoted value as A1111 wrote it (``json.dumps``: ``\\n``, ``\\"``, ``\\uXXXX``)."""
    try:
        text = json.loads(value)
    except ValueError:
        text = None
    if isinstance(text, str) and not any("\ud800" <= c <= "\udfff" for c in text):
        return text  # (a lone surrogate would not survive saving)
    return value[1:-1].replace('\\"', '"')


# settings we read, by their canonical spelling (keys are matched case-insensitively:
# "Denoising strength" and "Denoising Strength" both occur)
KNOWN = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Schedule type", "Clip skip",
         "VAE", "VAE hash", *NOISE_FIELDS, *HIRES_FIELDS)
# describe the file only (what was used, by hash or version)
QUIET = {"model hash", "version", "lora hashes", "ti hashes", "vae hash", "emphasis",
         "hashes", "user"}
# features of A1111 extensions, named by the prefix of their fields
FEATURES = ("ControlNet", "ADetailer", "Tiled Diffusion", "Tiled VAE", "Regional Prompter",
            "AnimateDiff", "Hypernet", "Face restoration", "Variation seed", "Refiner",
            "Dynamic thresholding", "FreeU", "SAG", "Soft inpainting", "Mask blur")


def graph_from_parameters(text: str, registry: Registry | None = None,
                          source: str | Path = "the PNG's parameters") -> Graph:
    """A graph equivalent to an A1111 generation (txt2img, its LoRAs, VAE, clip skip and
    hires fix), or to a JSON ``parameters`` object (Fooocus, SwarmUI, ...); what cannot be
    matched is listed in ``graph.metadata["a1111"]["notes"]``.

    Raises:
        WorkflowError: JSON parameters that cannot be parsed.
    """
    from app.engine.registry import default_registry

    registry = registry if registry is not None else default_registry()
    notes: list[str] = []
    loras: list[Lora] = []
    if text.lstrip().startswith("{"):
        raw = parse_json(text, source, "the PNG's 'parameters' text")
        prompt, negative, settings, loras, notes = read_json(raw)
        kind = tool_of(raw)
    else:
        parsed = parse_parameters(text)
        settings = _canonical(parsed["settings"])
        prompt, loras = take_loras(parsed["prompt"], notes)
        negative, kind = parsed["negative"], "AUTOMATIC1111"
    sampler, schedule = pick_sampler(settings.get("Sampler", "Euler"),
                                     settings.get("Schedule type", ""), notes)
    width, height = _size(settings.get("Size", "512x512"), notes)
    checkpoint, found = file_name(settings.get("Model", "") or "demo", "checkpoints")
    if settings.get("Model") and not found:
        notes.append(f"checkpoint {show(settings['Model'])} not found in the model folders; "
                     f"assumed {checkpoint!r}")
    graph = txt2img(
        registry, checkpoint=checkpoint if settings.get("Model") else "demo", prompt=prompt,
        negative=negative, width=width, height=height,
        seed=_number(settings.get("Seed"), int, 0),
        sampler={"sampler": sampler, "schedule": schedule,
                 "steps": _number(settings.get("Steps"), int, 20),
                 "cfg": _number(settings.get("CFG scale"), float, 7.0)},
        metadata={"a1111": {"parameters": text, "notes": notes, "tool": kind}},
    )
    add_loras(graph, registry, loras, notes)
    if "Clip skip" in settings:
        add_clip_skip(graph, registry, settings["Clip skip"], notes)
    if settings.get("VAE"):
        add_vae(graph, registry, settings["VAE"], notes)
    elif settings.get("VAE hash"):
        notes.append(f"VAE hash {show(settings['VAE hash'])}: a VAE cannot be found from its "
                     "hash; the checkpoint's own VAE is used")
    hires = "Hires upscale" in settings or "Hires resize" in settings
    if hires:
        add_hires(graph, registry, settings, (width, height), _number, pick_sampler, notes,
                  loras)
    elif "Denoising strength" in settings:
        notes.append("img2img (source image not saved) is not reproduced; opened as txt2img")
    add_ensd(graph, settings, notes)
    if "Lora hashes" in settings and not loras:
        notes.append(f"Lora hashes {show(settings['Lora hashes'])} name LoRAs the prompt does "
                     "not tag; not applied")
    _note_dropped(settings, notes)
    return graph


def _canonical(settings: dict[str, str]) -> dict[str, str]:
    """Known keys in their canonical spelling (A1111 versions differ in capitals)."""
    spelled = {k.lower(): k for k in KNOWN}
    return {spelled.get(k.lower(), k): v for k, v in settings.items()}


def _note_dropped(settings: dict[str, str], notes: list[str]) -> None:
    """One note naming every setting that changes the image but is not reproduced."""
    groups: dict[str, list[str]] = {}
    for key in settings:
        if key in KNOWN or key.lower() in QUIET:
            continue
        feature = next((f for f in FEATURES if key.lower().startswith(f.lower())), key)
        groups.setdefault(feature, []).append(key)
    if groups:
        parts = [f if keys == [f] else f"{f} ({', '.join(keys[:4])}"
                 f"{', ...' if len(keys) > 4 else ''})" for f, keys in groups.items()]
        notes.append("not reproduced here: " + "; ".join(parts))


def pick_sampler(name: str, schedule_name: str, notes: list[str]) -> tuple[str, str]:
    """Our sampler and schedule for A1111's (or ComfyUI's, as Fooocus writes) names."""
    key = name.strip().lower()
    schedule = SCHEDULES.get(schedule_name.strip().lower(), "normal")
    if schedule_name.strip() and schedule_name.strip().lower() not in SCHEDULES:
        schedule, _ = to_ours(schedule_name.strip().lower(), COMFY_SCHEDULERS,
                              NEAREST_SCHEDULERS, "normal")
        notes.append(f"schedule type {show(schedule_name)} is not supported here; using "
                     f"{schedule!r}")
    for suffix, implied in ((" karras", "karras"), (" exponential", "exponential")):
        if key.endswith(suffix):  # older versions put the schedule in the sampler name
            key, schedule = key[: -len(suffix)], implied
    if key in SAMPLERS:
        sampler = SAMPLERS[key]
        if key not in EXACT_SAMPLERS:
            notes.append(f"sampler {show(name)} is not supported here; using {sampler!r}")
        return sampler, schedule
    sampler, why = to_ours(key, COMFY_SAMPLERS, NEAREST_SAMPLERS, "euler")  # ComfyUI names
    if why:
        notes.append(f"sampler {show(name)} is not supported here; using {sampler!r}")
    return sampler, schedule


def _size(text: str, notes: list[str]) -> tuple[int, int]:
    match = re.match(r"\s*(\d{1,6})\s*x\s*(\d{1,6})(?!\d)", text)
    if not match:
        notes.append(f"size {show(text)} not understood; using 512x512")
        return 512, 512
    width, height = int(match.group(1)), int(match.group(2))
    rounded = (max(8, width // 8 * 8), max(8, height // 8 * 8))
    if rounded != (width, height):
        notes.append(f"size {width}x{height} rounded down to {rounded[0]}x{rounded[1]}")
    return rounded


def _number(text: str | None, kind: type, default: Any) -> Any:
    """``text`` as an int or float; ``default`` when it is not a finite number."""
    if text is None or len(text) > 40:
        return default
    for parse in (kind, lambda t: kind(float(t))):
        try:
            value = parse(text)
        except (TypeError, ValueError, OverflowError):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return default
        return value
    return default
