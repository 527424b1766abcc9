"""AUTOMATIC1111 PNGs: their ``parameters`` text opened as an equivalent txt2img workflow.

The text is the prompt, an optional ``Negative prompt: ...`` and a last line of settings:
``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: name, ...``.
"""

from __future__ import annotations

import re
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.interop.recipes import txt2img

# "Key: value" pairs; a value may be a quoted string holding commas (as A1111 writes it).
_PARAM = re.compile(r'\s*([\w][\w \-/+.()]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')

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
        for key, value in _PARAM.findall(lines.pop()):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"')
            settings[key.strip()] = value
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
        notes.append(f"sampler {sampler_name!r} is not supported here; using {sampler!r}")
    width, height = _size(settings.get("Size", "512x512"), notes)
    if "Denoising strength" in settings:
        what = "hires fix" if "Hires upscale" in settings else "img2img (source image not saved)"
        notes.append(f"{what} is not reproduced; opened as plain txt2img")
    for ignored in ("Clip skip", "Lora hashes", "VAE", "Refiner"):
        if ignored in settings:
            notes.append(f"{ignored} {settings[ignored]!r} is not supported here; ignored")

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
    match = re.match(r"\s*(\d+)\s*x\s*(\d+)", text)
    if not match:
        notes.append(f"size {text!r} not understood; using 512x512")
        return 512, 512
    width, height = int(match.group(1)), int(match.group(2))
    rounded = (max(8, width // 8 * 8), max(8, height // 8 * 8))
    if rounded != (width, height):
        notes.append(f"size {width}x{height} rounded down to {rounded[0]}x{rounded[1]}")
    return rounded


def _number(text: str | None, kind: type, default: Any) -> Any:
    for parse in (kind, lambda t: kind(float(t))):
        try:
            return parse(text)
        except (TypeError, ValueError):
            continue
    return default
