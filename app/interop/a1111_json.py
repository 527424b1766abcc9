"""JSON in a PNG's ``parameters`` chunk: Fooocus (its "fooocus" metadata scheme), SwarmUI
(``sui_image_params``) and other tools that write a JSON object instead of A1111's text.
The object is read into A1111's vocabulary (prompt, negative, settings, LoRAs) so one graph
builder serves both; what has no counterpart is listed in a note, never put in the prompt."""

from __future__ import annotations

import re
from typing import Any

from app.interop.a1111_chain import Lora
from app.interop.comfy_fields import show

# settings key (A1111's name) -> the JSON keys that carry it, normalised (lower case, no
# spaces or underscores)
_KEYS = {
    "Steps": ("steps",), "Seed": ("seed",),
    "CFG scale": ("guidancescale", "cfgscale", "cfg"),
    "Sampler": ("sampler", "samplername"), "Schedule type": ("scheduler", "schedule"),
    "Model": ("basemodel", "model", "modelname"), "VAE": ("vae",),
    "Clip skip": ("clipskip",),
}
_UNSET = (None, "", "None", False, "Default (model)")  # Fooocus: the checkpoint's own VAE
_PROMPTS = ("fullprompt", "prompt", "positiveprompt")
_NEGATIVES = ("fullnegativeprompt", "negativeprompt", "negative")
# read elsewhere or only describing the file (hashes, versions)
_QUIET = {"width", "height", "resolution", "loras", "version", "basemodelhash", "metadatascheme",
          "date", "swarmversion", "generationtime", "createdby", "imagenumber", "rawprompt",
          "rawnegativeprompt", *_PROMPTS, *_NEGATIVES}


def _norm(key: str) -> str:
    return re.sub(r"[\s_]", "", key).lower()


def tool_of(raw: dict[str, Any]) -> str:
    version = str(raw.get("version") or raw.get("Version") or "")
    if "sui_image_params" in raw:
        return "SwarmUI"
    if version.lower().startswith("fooocus") or "fooocus" in str(raw.get("metadata_scheme", "")):
        return "Fooocus"
    return "JSON"


def read_json(raw: dict[str, Any]) -> tuple[str, str, dict[str, str], list[Lora], list[str]]:
    """``(prompt, negative, settings, loras, notes)`` of a JSON parameters object."""
    tool = tool_of(raw)
    if isinstance(raw.get("sui_image_params"), dict):
        raw = raw["sui_image_params"]
    by_key = {_norm(k): v for k, v in raw.items() if isinstance(k, str)}
    notes: list[str] = []
    prompt = _text(next((by_key[k] for k in _PROMPTS if k in by_key), ""))
    negative = _text(next((by_key[k] for k in _NEGATIVES if k in by_key), ""))
    settings: dict[str, str] = {}
    used: set[str] = set(_QUIET)
    for name, keys in _KEYS.items():
        key = next((k for k in keys if k in by_key and by_key[k] not in _UNSET),
                   None)
        if key is not None:
            settings[name] = str(by_key[key])
            used.add(key)
    size = _size(by_key)
    if size:
        settings["Size"] = size
    loras = _loras(by_key, notes)
    used |= {k for k in by_key if k.startswith("loracombined")}
    dropped = sorted(k for k, v in raw.items() if isinstance(k, str) and _norm(k) not in used
                     and v not in _UNSET)
    if dropped:
        notes.append(f"{tool} settings not reproduced here: {', '.join(dropped)}")
    return prompt, negative, settings, loras, notes


def _text(value: Any) -> str:
    """A prompt: text, or the list of resolved prompts Fooocus saves (styles applied)."""
    if isinstance(value, list):
        return ", ".join(v.strip() for v in value if isinstance(v, str) and v.strip())
    return value if isinstance(value, str) else ""  # anything else is not a prompt


def _size(by_key: dict[str, Any]) -> str | None:
    if "width" in by_key and "height" in by_key:
        return f"{by_key['width']}x{by_key['height']}"
    match = re.fullmatch(r"\s*\(?\s*'?(\d{1,5})'?\s*[,*x×]\s*'?(\d{1,5})'?\s*\)?\s*",
                         str(by_key.get("resolution", "")))
    return f"{match.group(1)}x{match.group(2)}" if match else None


def _loras(by_key: dict[str, Any], notes: list[str]) -> list[Lora]:
    """Fooocus: ``loras`` as ``[[name, weight, hash], ...]`` or ``lora_combined_N`` as
    ``"name : weight"`` (``"True : name : weight"`` when it can be switched off)."""
    found: list[tuple[Any, Any]] = []
    listed = by_key.get("loras")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, list) and len(item) >= 2:
            found.append((item[0], item[1]))
    if not found:
        for key in sorted(k for k in by_key if k.startswith("loracombined")):
            parts = [p.strip() for p in str(by_key[key]).split(" : ")]
            if len(parts) == 3 and parts[0] in ("True", "False"):
                if parts[0] == "False":
                    continue
                parts = parts[1:]
            if len(parts) == 2:
                found.append((parts[0], parts[1]))
    loras = []
    for name, weight in found:
        if str(name) in ("", "None"):
            continue
        try:
            strength = float(weight)
        except (TypeError, ValueError):
            notes.append(f"LoRA {show(name)}: weight {show(weight)} not understood; using 1")
            strength = 1.0
        stem = re.sub(r"\.(safetensors|ckpt|pt|pth|bin)$", "", str(name))
        loras.append(Lora(stem, strength, strength))
    return loras
