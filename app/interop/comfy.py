"""Open ComfyUI workflows as our graphs: the API "prompt" format (``{id: {class_type,
inputs}}``, links as ``[node_id, output_index]``), the UI format (``nodes``, ``links``,
``widgets_values``) and PNGs that carry either in their ``prompt``/``workflow`` chunks.

Node classes without a counterpart here are all named in one WorkflowError; with
``strict=False`` the rest of the graph is returned and the missing nodes are listed in
``graph.metadata["comfyui"]["placeholders"]`` (for the GUI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.engine.graph import MUTE, NORMAL, Edge, Graph, NodeInstance, numeric_id
from app.engine.registry import Registry
from app.engine.workflow import WorkflowError, parse_json
from app.interop.comfy_broken import plan, reason_for
from app.interop.comfy_custom import SEEDED
from app.interop.comfy_fields import FieldReader
from app.interop.comfy_groups import ExpansionError, expand_group_nodes
from app.interop.comfy_ipadapter import wire_clip_vision
from app.interop.comfy_names import CLASSES
from app.interop.comfy_schema import check_api
from app.interop.comfy_subgraph_files import expand_subgraphs
from app.interop.comfy_ui import apply_ui_layout, ui_to_prompt
from app.interop.comfy_values import comfy_values

# ComfyUI's own default titles; a node titled so gets our title instead.
_DEFAULT_TITLES = {
    "Load Checkpoint", "CLIP Text Encode (Prompt)", "Empty Latent Image", "KSampler",
    "KSampler (Advanced)", "SamplerCustom", "SamplerCustomAdvanced", "RandomNoise",
    "KSamplerSelect", "BasicScheduler", "CFGGuider", "BasicGuider", "VAE Decode", "VAE Encode", "Save Image", "Preview Image",
    "Load Image", "Upscale Latent", "Upscale Latent By", "Upscale Image", "Upscale Image By",
}


def detect(raw: Any) -> str | None:
    """``"api"``, ``"ui"`` or None for a parsed JSON document."""
    if not isinstance(raw, dict) or not raw or "format" in raw:
        return None
    if isinstance(raw.get("nodes"), list) and ("links" in raw or raw.get("version") == 1):
        return "ui"
    if all(isinstance(v, dict) and "class_type" in v for v in raw.values()):
        return "api"
    return None


def flat_ui(raw: dict[str, Any], notes: list[str], source: str | Path) -> dict[str, Any]:
    """A UI document with its group nodes and subgraphs expanded into plain nodes.

    Raises:
        WorkflowError: the expansion would grow past the node limit.
    """
    try:
        return expand_subgraphs(expand_group_nodes(raw, notes.append), notes.append)
    except ExpansionError as exc:
        raise WorkflowError(source, str(exc)) from None


def load_comfy(
    raw: dict[str, Any], source: str | Path, registry: Registry | None = None,
    strict: bool = True, layout: dict[str, dict[str, Any]] | None = None,
) -> Graph:
    """Build our graph from a ComfyUI document of either format.

    Raises:
        WorkflowError: unmappable node classes (strict), or a malformed document.
    """
    kind = detect(raw)
    notes: list[str] = []
    if kind == "ui":
        raw = flat_ui(raw, notes, source)
        prompt, ui_layout = ui_to_prompt(raw, source)
        layout = {**ui_layout, **(layout or {})}
    elif kind == "api":
        prompt = raw
    else:
        raise WorkflowError(source, "not a ComfyUI workflow")
    prompt = check_api(prompt, source)
    importer = _Importer(prompt, source, registry, layout or {}, kind)
    importer.notes.extend(notes)
    graph = importer.build(strict)
    if kind == "ui":  # modes of muted/bypassed nodes and the groups
        apply_ui_layout(graph, raw, layout or {})
    return graph


def graph_from_png_chunks(
    chunks: dict[str, str], source: str | Path, registry: Registry | None = None,
    strict: bool = True,
) -> Graph:
    """A graph from a PNG's text chunks: ComfyUI's prompt/workflow or A1111's parameters.

    Raises:
        WorkflowError: no usable chunk; when a chunk is there but broken, it says why.
    """
    problems: list[WorkflowError] = []
    prompt = _json(chunks, "prompt", source, problems)
    workflow = _json(chunks, "workflow", source, problems)
    if detect(prompt) == "api":
        layout = None
        if detect(workflow) == "ui":
            try:  # only positions and titles: a broken layout does not stop the prompt
                layout = ui_to_prompt(flat_ui(workflow, [], source), source)[1]
            except WorkflowError:
                layout = None
        return load_comfy(prompt, source, registry, strict, layout)
    if detect(workflow) == "ui":
        return load_comfy(workflow, source, registry, strict)
    if chunks.get("parameters", "").strip():
        from app.interop.a1111 import graph_from_parameters

        return graph_from_parameters(chunks["parameters"], registry, source)
    if problems:
        raise problems[0]
    raise WorkflowError(source, "this PNG carries no workflow (not saved by this app, "
                                "ComfyUI or AUTOMATIC1111)")


def _json(chunks: dict[str, str], name: str, source: str | Path,
          problems: list[WorkflowError]) -> Any:
    """The parsed text chunk ``name``; None (and the reason kept) when it is broken."""
    text = chunks.get(name)
    if not text:
        return None
    try:
        return parse_json(text, source, f"the PNG's {name!r} text")
    except WorkflowError as exc:
        problems.append(exc)
        return None


class _Importer:
    def __init__(self, prompt: dict[str, Any], source: str | Path, registry: Registry | None,
                 layout: dict[str, dict[str, Any]], kind: str) -> None:
        from app.engine.registry import default_registry

        self.prompt = {str(k): v for k, v in prompt.items()}
        self.source = source
        self.registry = registry if registry is not None else default_registry()
        self.layout = layout
        self.kind = kind
        self.graph = Graph()
        self.notes: list[str] = []
        self.noise_of: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}

    def build(self, strict: bool) -> Graph:
        missing = {i: reason_for(str(n.get("class_type"))) for i, n in self.prompt.items()
                   if n.get("class_type") not in CLASSES}
        errors: list[WorkflowError] = []
        for node_id, item in self.prompt.items():
            if node_id in missing:
                continue
            try:
                self.values[node_id] = self._values(node_id, item)
            except WorkflowError as exc:  # a value ComfyUI would refuse: the node is broken
                errors.append(exc)
                missing[node_id] = exc.reason
        muted, broken = plan(self.prompt, missing, self._is_output)
        if missing and not broken:  # no output left to run: refuse the file, as before
            classes = {i: n for i, n in self.prompt.items() if n.get("class_type") not in CLASSES}
            if errors and (strict or not classes):
                raise errors[0]
            if strict:
                raise WorkflowError(self.source, _unmappable_message(classes))
        for node_id, item in self.prompt.items():
            if node_id not in missing:
                self._add(node_id, item)
        for node_id, item in self.prompt.items():
            if node_id not in missing:
                self._link(node_id, item, missing)
        wire_clip_vision(self.graph, self._note)
        self._name_prompts()
        meta: dict[str, Any] = {"source_format": f"comfyui-{self.kind}", "notes": self.notes}
        for node_id, item in self.prompt.items():  # a visible stand-in for each broken node
            if node_id in missing:
                self.graph.nodes[node_id] = NodeInstance(
                    id=node_id, type=f"comfyui/{item.get('class_type')}",
                    title=_title(item) or str(item.get("class_type")),
                    position=self._position(node_id), mode=MUTE if broken else NORMAL)
        for node_id in muted:
            self.graph.nodes[node_id].mode = MUTE
        self.notes.extend(broken)
        if broken:
            meta["broken"] = broken
        if missing:
            meta["placeholders"] = [
                {"id": i, "class_type": self.prompt[i].get("class_type"),
                 "title": _title(self.prompt[i]), "reason": why}
                for i, why in missing.items()
            ]
        self.graph.metadata["comfyui"] = meta
        return self.graph

    def _values(self, node_id: str, item: dict[str, Any]) -> dict[str, Any]:
        cls = item["class_type"]
        widgets = {k: v for k, v in item["inputs"].items() if not _is_link(v)}
        fields = FieldReader(self.source, f"node #{node_id} ({cls})", widgets)
        return comfy_values(cls, fields, self._note)

    def _is_output(self, node_id: str) -> bool:
        cls = CLASSES.get(self.prompt[node_id].get("class_type"))
        spec = self.registry.get(cls.type_id) if cls is not None else None
        return spec is not None and spec.is_output

    # -- nodes -------------------------------------------------------------------
    def _add(self, node_id: str, item: dict[str, Any]) -> None:
        cls = item["class_type"]
        values = dict(self.values[node_id])
        title = self.layout.get(node_id, {}).get("title") or _title(item)
        if title in _DEFAULT_TITLES:
            title = None
        spec_type = CLASSES[cls].type_id
        position = self._position(node_id)
        if cls in SEEDED:  # ComfyUI keeps the seed on the sampler; ours is a Noise node
            seed = values.pop("seed", 0)
            noise = self.graph.add("sampling.noise", registry=self.registry,
                                   node_id=self._fresh_id(), values={"seed": seed},
                                   position=(position[0] - 300, position[1] + 260))
            self.noise_of[node_id] = noise.id
        self.graph.add(spec_type, registry=self.registry, node_id=node_id, title=title,
                       values=values, position=position)

    def _link(self, node_id: str, item: dict[str, Any], missing: dict[str, Any]) -> None:
        cls = CLASSES[item["class_type"]]
        for name, value in item["inputs"].items():
            if not _is_link(value):
                continue
            source, slot = str(value[0]), int(value[1])
            where = f"node #{node_id} ({item['class_type']}) input {name!r}"
            if source in missing:
                continue  # a placeholder: only reached when not strict
            if source not in self.prompt:
                raise WorkflowError(self.source, f"{where} links to missing node #{source}")
            ours = cls.links.get(name)
            if ours is None and name in cls.dropped:
                continue
            if ours is None:
                self._note(f"{where} takes its value from a link, which is not supported "
                           f"here; the default value is used")
                continue
            outputs = CLASSES[self.prompt[source]["class_type"]].outputs
            if not 0 <= slot < len(outputs):
                raise WorkflowError(self.source, f"{where} links to output {slot} of node "
                                                 f"#{source}, which has no such output")
            self.graph.edges.append(Edge(source, outputs[slot], node_id, ours))
        if node_id in self.noise_of:
            self.graph.edges.append(Edge(self.noise_of[node_id], "noise", node_id, "noise"))
            noise = self.graph.nodes[self.noise_of[node_id]]
            sampler = self.graph.nodes[node_id]
            samplers = sum(1 for n in self.prompt.values() if n["class_type"] in SEEDED)
            noise.title = "Noise" if samplers == 1 else f"Noise ({sampler.title} #{node_id})"

    def _name_prompts(self) -> None:
        """Untitled text encoders are named after the sampler input they feed."""
        for edge in self.graph.edges:
            node = self.graph.nodes[edge.source]
            if node.type == "conditioning.text_encode" and node.title == "Text Encode":
                if edge.input in ("positive", "negative"):
                    node.title = f"{edge.input.capitalize()} Prompt"

    def _position(self, node_id: str) -> tuple[float, float]:
        pos = self.layout.get(node_id, {}).get("pos")
        if pos is not None:
            return (float(pos[0]), float(pos[1]))
        index = list(self.prompt).index(node_id)
        return (float(320 * (index % 4)), float(300 * (index // 4)))

    def _fresh_id(self) -> str:
        taken = [int(i) for i in (*self.prompt, *self.graph.nodes) if numeric_id(i)]
        return str(max(taken, default=0) + 1)

    def _note(self, text: str) -> None:
        self.notes.append(text)


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _title(item: dict[str, Any]) -> str | None:
    meta = item.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) else None


def _unmappable_message(missing: dict[str, Any]) -> str:
    names: dict[str, list[str]] = {}
    for node_id, item in missing.items():
        names.setdefault(str(item.get("class_type")), []).append(f"#{node_id}")
    parts = [f"{cls} ({reason_for(cls)}; {', '.join(ids)})" for cls, ids in sorted(names.items())]
    return (f"this ComfyUI workflow uses {len(names)} node type(s) that cannot be mapped: "
            + "; ".join(parts))
