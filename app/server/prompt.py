"""A ComfyUI API prompt made into our graph, or refused with ComfyUI's error shape.

The import (``app.interop.comfy.load_comfy``) keeps ComfyUI's node ids; nodes it adds (the
Noise node a KSampler's seed becomes) are shown to clients as the prompt node they feed
(``display``). Refusals carry ``{"error": {type, message, details, extra_info},
"node_errors": {id: {"errors": [...], "dependent_outputs": [...], "class_type"}}}`` for
HTTP 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.engine.validation import Problem, validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from app.interop.comfy_names import CLASSES
from app.server.config import ServerConfig
from app.server.paths import PathRefused, confined, split_annotation

SOURCE = "the prompt"
_NODE_IN_MESSAGE = re.compile(r"node #(\S+?)[\s:,)]")


def _error(kind: str, message: str, details: str = "",
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


class PromptRefused(Exception):
    """The prompt cannot run; ``body`` is ComfyUI's 400 answer."""

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any] | None = None) -> None:
        super().__init__(error["message"])
        self.body = {"error": error, "node_errors": node_errors or {}}


@dataclass
class Prepared:
    graph: Graph
    outputs: list[str]  # the prompt's output node ids
    display: dict[str, str] = field(default_factory=dict)  # our node id -> prompt node id
    notes: list[str] = field(default_factory=list)  # what the import had to change


def _check_shape(prompt: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(prompt, dict) or not prompt:
        raise PromptRefused(_error("invalid_prompt", "the prompt must be an object of nodes "
                                   "({id: {class_type, inputs}})"))
    for node_id, item in prompt.items():
        if not isinstance(item, dict) or not isinstance(item.get("class_type"), str):
            raise PromptRefused(_error("invalid_prompt", f"node #{node_id} has no class_type",
                                       f"Node ID '#{node_id}'"))
        if not isinstance(item.get("inputs", {}), dict):
            raise PromptRefused(_error("invalid_prompt", f"node #{node_id}: inputs must be an "
                                       "object", f"Node ID '#{node_id}'"))
        if item["class_type"] not in CLASSES:
            raise PromptRefused(_error(
                "invalid_prompt",
                f"Cannot execute because node {item['class_type']} does not exist.",
                f"Node ID '#{node_id}'"))
    return prompt


def _output_ids(prompt: dict[str, dict[str, Any]], registry: Registry) -> list[str]:
    found = []
    for node_id, item in prompt.items():
        spec = registry.get(CLASSES[item["class_type"]].type_id)
        if spec is not None and spec.is_output:
            found.append(str(node_id))
    return found


def _resolve_images(prompt: dict[str, dict[str, Any]], config: ServerConfig,
                    outputs: list[str]) -> dict[str, Any]:
    """LoadImage names as ComfyUI writes them (``sub/name.png [output]``) made into names our
    Load Image reads: input names stay relative (it looks in the input folder first), others
    become paths inside the output folder."""
    fixed = dict(prompt)
    for node_id, item in prompt.items():
        value = item.get("inputs", {}).get("image")
        if item["class_type"] not in ("LoadImage", "LoadImageMask") or not isinstance(value, str):
            continue
        name, kind = split_annotation(value, "input")
        sub, _, base = name.replace("\\", "/").rpartition("/")
        try:
            path = confined(config, kind, sub, base)
        except PathRefused as exc:
            raise PromptRefused(*_node_refusal(prompt, str(node_id), "image", str(exc),
                                               outputs)) from None
        inputs = dict(item["inputs"], image=name if kind == "input" else str(path))
        fixed[node_id] = dict(item, inputs=inputs)
    return fixed


def _dependents(prompt: dict[str, dict[str, Any]], node_id: str, outputs: list[str]) -> list[str]:
    """The output nodes that need ``node_id``."""
    feeds: dict[str, set[str]] = {}
    for target, item in prompt.items():
        for value in item.get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int):
                feeds.setdefault(str(value[0]), set()).add(str(target))
    seen, todo = {node_id}, [node_id]
    while todo:
        for nxt in feeds.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return [o for o in outputs if o in seen]


def _node_refusal(prompt: dict[str, dict[str, Any]], node_id: str, field_name: str | None,
                  message: str, outputs: list[str]) -> tuple[dict[str, Any], dict]:
    entry = _error("value_not_valid", message,
                   f"{field_name}: {message}" if field_name else message,
                   {"input_name": field_name} if field_name else {})
    node_errors = {node_id: {"errors": [entry],
                             "dependent_outputs": _dependents(prompt, node_id, outputs),
                             "class_type": prompt.get(node_id, {}).get("class_type")}}
    return _error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                  message), node_errors


def display_ids(graph: Graph, prompt: dict[str, Any]) -> dict[str, str]:
    """Each of our node ids -> the prompt node a client knows it as."""
    shown = {node_id: node_id for node_id in graph.nodes if node_id in prompt}
    for edge in graph.edges:
        if edge.source not in shown and edge.target in prompt:
            shown[edge.source] = edge.target
    return shown


def missing_models(graph: Graph, registry: Registry) -> list[Problem]:
    """Model names that no model folder holds, found before the prompt is queued (ComfyUI
    refuses them with ``value_not_in_list``); other trouble is left to the run to report."""
    from pipelines.loading.folders import resolve

    problems = []
    for node in graph.nodes.values():
        spec = registry.get(node.type)
        for value in spec.values if spec is not None else ():
            kind = getattr(value, "kind", "")
            name = node.values.get(value.name)
            if not kind.startswith("model:") or not isinstance(name, str) or not name.strip():
                continue
            try:
                resolve(name, kind.removeprefix("model:"))
            except FileNotFoundError as exc:
                problems.append(Problem(node.id, node.title, value.name,
                                        f"'{name}' not in the model folders ({exc})"))
            except Exception:  # a broken model folder config: the run will say so
                continue
    return problems


def _problem_kind(problem: Problem) -> str:
    if "not in the model folders" in problem.message:
        return "value_not_in_list"
    if "input linked" in problem.message:
        return "required_input_missing"
    if problem.field is None:
        return "invalid_prompt"
    return "value_not_valid"


def prepare(raw: Any, registry: Registry, config: ServerConfig) -> Prepared:
    """The graph of an API prompt, validated.

    Raises:
        PromptRefused: malformed, unknown classes, no outputs, or invalid values.
    """
    prompt = {str(k): v for k, v in _check_shape(raw).items()}
    outputs = _output_ids(prompt, registry)
    if not outputs:
        raise PromptRefused(_error("prompt_no_outputs", "Prompt has no outputs"))
    prompt = _resolve_images(prompt, config, outputs)
    try:
        graph = load_comfy(prompt, SOURCE, registry, strict=True)
    except WorkflowError as exc:
        match = _NODE_IN_MESSAGE.search(exc.reason + " ")
        node_id = match.group(1) if match and match.group(1) in prompt else None
        if node_id is None:
            raise PromptRefused(_error("invalid_prompt", exc.reason)) from None
        raise PromptRefused(*_node_refusal(prompt, node_id, None, exc.reason,
                                           outputs)) from None
    display = display_ids(graph, prompt)
    problems = validate(graph, registry, outputs) or missing_models(graph, registry)
    if problems:
        node_errors: dict[str, Any] = {}
        general = []
        for problem in problems:
            shown = display.get(problem.node_id or "")
            if shown is None:
                general.append(str(problem))
                continue
            entry = node_errors.setdefault(shown, {
                "errors": [], "dependent_outputs": _dependents(prompt, shown, outputs),
                "class_type": prompt[shown]["class_type"]})
            entry["errors"].append(_error(
                _problem_kind(problem), problem.message,
                f"{problem.field}: {problem.message}" if problem.field else problem.message,
                {"input_name": problem.field} if problem.field else {}))
        details = "\n".join([*general, *(f"node #{i}: {e['details']}" for i, n in
                                         node_errors.items() for e in n["errors"])])
        raise PromptRefused(_error("prompt_outputs_failed_validation",
                                   "Prompt outputs failed validation", details), node_errors)
    meta = graph.metadata.get("comfyui")
    notes = meta.get("notes") if isinstance(meta, dict) else None
    return Prepared(graph, outputs, display, [n for n in notes or [] if isinstance(n, str)])
