"""ComfyUI's own check of a queued prompt (execution.py validate_inputs), against the
hand-written object_info subset in data/comfy_object_info.json: class exists, required inputs
present, widget values of the right type, in range and in the allowed lists, links
well-typed."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "comfy_object_info.json"
# ComfyUI's folder_paths.supported_pt_extensions (+ .gguf, which its GGUF loaders list)
MODEL_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft",
                    ".gguf")


@cache
def object_info() -> dict[str, Any]:
    return {k: v for k, v in json.loads(DATA.read_text()).items() if not k.startswith("_")}


def problems(prompt: dict[str, Any]) -> list[str]:
    """Every reason ComfyUI's validate_prompt would refuse ``prompt`` (empty: accepted)."""
    info = object_info()
    found: list[str] = []
    for node_id, item in prompt.items():
        cls = item.get("class_type")
        where = f"#{node_id} ({cls})"
        if cls not in info:
            found.append(f"{where}: no such class in ComfyUI")
            continue
        spec = info[cls]["input"]
        inputs = item.get("inputs", {})
        for group in ("required", "optional"):
            for name, (kind, options) in spec.get(group, {}).items():
                if name not in inputs:
                    if group == "required":
                        found.append(f"{where}: required input {name!r} missing")
                    continue
                value = inputs[name]
                if _is_link(value):
                    found += _link_problem(prompt, info, where, name, kind, value)
                else:
                    found += [f"{where} {name!r}: {p}" for p in _value_problem(kind, options,
                                                                                value)]
    return found


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int))


def _link_problem(prompt: dict[str, Any], info: dict[str, Any], where: str, name: str,
                  kind: Any, value: list[Any]) -> list[str]:
    source = prompt.get(value[0])
    if source is None:
        return [f"{where} {name!r}: links to missing node {value[0]!r}"]
    outputs = info.get(source.get("class_type"), {}).get("output", [])
    if not 0 <= value[1] < len(outputs):
        return [f"{where} {name!r}: links to output {value[1]} of {source.get('class_type')}, "
                f"which has {len(outputs)}"]
    produced = outputs[value[1]]
    expected = kind if isinstance(kind, str) else "COMBO"
    if "*" not in (produced, expected) and produced != expected:
        return [f"{where} {name!r}: expects {expected}, linked to a {produced}"]
    return []


def _value_problem(kind: Any, options: dict[str, Any], value: Any) -> list[str]:
    if isinstance(kind, list):
        if "files" in options:
            if not isinstance(value, str) or not value:
                return [f"expected a file name, got {value!r}"]
            if options["files"] != "input" and not value.lower().endswith(MODEL_EXTENSIONS):
                return [f"{value!r} is not a file ComfyUI lists in models/{options['files']} "
                        "(no model file extension)"]
            return []
        return [] if value in kind else [f"{value!r} not in the allowed list"]
    if kind == "INT":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"expected an integer, got {value!r}"]
    elif kind == "FLOAT":
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            return [f"expected a number, got {value!r}"]
    elif kind == "STRING":
        return [] if isinstance(value, str) else [f"expected text, got {value!r}"]
    elif kind == "BOOLEAN":
        return [] if isinstance(value, bool) else [f"expected true/false, got {value!r}"]
    else:
        return [f"a {kind} input takes a link, got the value {value!r}"]
    low, high = options.get("min"), options.get("max")
    if low is not None and value < low:
        return [f"{value!r} below the minimum {low}"]
    if high is not None and value > high:
        return [f"{value!r} above the maximum {high}"]
    return []
