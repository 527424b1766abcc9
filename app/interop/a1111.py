"""AUTOMATIC1111 PNGs: their ``parameters`` text opened as an equivalent txt2img workflow.

The text is the prompt, an optional ``Negative prompt: ...`` and a last line of settings:
``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: name, ...``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.interop.comfy_fields import show
from app.interop.recipes import txt2img

# The settings line is split into "Key: value" items at commas outside quotes (A1111
# quotes values holding commas). Every pattern here is linear: possessive quantifiers, no
# quantifier over a group that can match the same text two ways, so hostile text of any
# length is parsed in one pass (A1111's own pattern backtracks quadratically).
_ITEM = re.compile(r'(?:"(?:[^"\\]++|\\.)*+"?|[^",]++)++', re.S)
_KEY = re.compile(r"\w[\w \-/+.()]*+")
_MAX_KEY = 100

SAMPLERS = {
    "euler a": "euler_ancestral", "euler": "euler", "heun": "heun", "dpm2": "dpm_2",
    "dpm2 a": "dpm_2_ancestral", "dpm++ 2m": "dpmpp_2m", "dpm++ 2m sde": "dpmpp_2m_sde",
    "ddim": "ddim", "ddpm": "ddpm", "unipc": "unipc", "lcm": "lcm", "deis": "deis",
    "lms": "lms", "dpm++ sde": "dpmpp_sde",
    # not ours: the nearest
    "dpm++ 2s a": "euler_ancestral",
    "dpm++ 3m sde": "dpmpp_2m_sde", "plms": "ddim", "dpm fast": "dpmpp_2m",
    "dpm adaptive": "dpmpp_2m", "restart": "heun",
}
EXACT_SAMPLERS = {"euler a", "euler", "heun", "dpm2", "dpm2 a", "dpm++ 2m", "dpm++ 2m sde",
                  "ddim", "ddpm", "unipc", "lcm", "deis", "lms", "dpm++ sde"}
SCHEDULES = {"automatic": "normal", "uniform": "normal", "karras": "karras",
             "exponential": "exponential", "sgm uniform": "sgm_uniform", "beta": "beta"}


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
            value = value[1:-1].replace('\\"', '"')
        settings[key] = value
    return settings


def graph_from_parameters(text: str, registry: Registry | None = None) -> Graph:
    """A txt2img graph equivalent to an A1111 generation; what cannot be matched is
    listed in ``graph.metadata["a1111"]["notes"]``."""
    from app.engine.registry import default_registry

    registry = registry if registry is not None else default_registry()
    parsed = parse_parameters(text)
    settings = parsed["settings"]
    notes: list[str] = []
    sampler_name = settings.get("Sampler", "Euler")
    key = sampler_name.lower()
    schedule = SCHEDULES.get(settings.get("Schedule type", "").lower(), "normal")
    for suffix, implied in ((" karras", "karras"), (" exponential", "exponential")):
        if key.endswith(suffix):  # older versions put the schedule in the sampler name
            key, schedule = key[: -len(suffix)], implied
    sampler = SAMPLERS.get(key, "euler")
    if key not in EXACT_SAMPLERS:
        notes.append(f"sampler {show(sampler_name)} is not supported here; using {sampler!r}")
    width, height = _size(settings.get("Size", "512x512"), notes)
    if "Denoising strength" in settings:
        what = "hires fix" if "Hires upscale" in settings else "img2img (source image not saved)"
        notes.append(f"{what} is not reproduced; opened as plain txt2img")
    for ignored in ("Clip skip", "Lora hashes", "VAE", "Refiner"):
        if ignored in settings:
            notes.append(f"{ignored} {show(settings[ignored])} is not supported here; ignored")

    return txt2img(
        registry, checkpoint=settings.get("Model", "demo"), prompt=parsed["prompt"],
        negative=parsed["negative"], width=width, height=height,
        seed=_number(settings.get("Seed"), int, 0),
        sampler={"sampler": sampler, "schedule": schedule,
                 "steps": _number(settings.get("Steps"), int, 20),
                 "cfg": _number(settings.get("CFG scale"), float, 7.0)},
        metadata={"a1111": {"parameters": text, "notes": notes}},
    )


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
