"""Node defaults and size warnings from the model the graph loads.

A new Empty Latent used to be 512x512 and a new Sampler cfg 7.5 whatever the model; with the
64 px built-in model that draws tiled garbage, slowly. New nodes now take the size and cfg of
the checkpoint the graph loads (when it can be found), and sizes far from it are warned about.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QObject

from app.engine.graph import Graph
from app.engine.registry import Registry
from app.gui.document import Document
from node_api.declaration import Int, NodeSpec
from pipelines.loading.model_defaults import ModelDefaults, model_defaults

CHECKPOINT_KIND = "model:checkpoints"
FAR = 2.0  # a side more than twice, or under half, the native size


def graph_model(graph: Graph, registry: Registry) -> tuple[str, ModelDefaults] | None:
    """The (name, defaults) of the first checkpoint the graph loads whose model is known."""
    from pipelines.loading.folders import resolve

    for node in sorted(graph.nodes.values(), key=lambda n: (len(n.id), n.id)):
        spec = registry.get(node.type)
        for decl in spec.values if spec else ():
            if getattr(decl, "kind", "") != CHECKPOINT_KIND:
                continue
            name = str(node.values.get(decl.name, decl.default) or "")
            try:
                defaults = model_defaults(resolve(name, "checkpoints")) if name else None
            except (FileNotFoundError, OSError):
                defaults = None
            if defaults is not None:
                return name, defaults
    return None


def defaults_for(spec: NodeSpec, model: ModelDefaults) -> dict[str, Any]:
    """Values of a new ``spec`` node that depend on the model: its image size (width/height
    that are not 0, "keep") and its cfg."""
    values: dict[str, Any] = {}
    for decl in spec.values:
        if decl.name in ("width", "height") and isinstance(decl, Int) and decl.default:
            values[decl.name] = model.size
        elif decl.name == "cfg":
            values[decl.name] = model.cfg
    return values


def size_warnings(graph: Graph, registry: Registry,
                  node_ids: list[str] | None = None) -> list[tuple[str, str]]:
    """(node id, message) for each image size far from the loaded model's native size."""
    found = graph_model(graph, registry)
    if found is None:
        return []
    name, model = found
    warnings = []
    for node in graph.nodes.values():
        if node_ids is not None and node.id not in node_ids:
            continue
        spec = registry.get(node.type)
        if spec is None or not {"width", "height"} <= {d.name for d in spec.values}:
            continue
        width, height = node.values.get("width"), node.values.get("height")
        if not isinstance(width, int) or not isinstance(height, int) or not width or not height:
            continue
        if max(width, height) > FAR * model.size or min(width, height) * FAR < model.size:
            warnings.append((node.id, (
                f"{node.title}: {width}x{height} is far from the {model.size} px that model "
                f"'{name}' was trained on; expect repeated or broken images (and slow steps "
                f"when larger)")))
    return warnings


class _Messages(Protocol):
    def add(self, level: str, text: str, node_id: str | None = None) -> None: ...


class SizeAdvice(QObject):
    """Warns in Messages when an edited size is far from the model's, and on every run."""

    def __init__(self, document: Document, messages: _Messages,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.messages = document, messages
        self._said: dict[str, str] = {}  # node id -> the last warning given on an edit
        document.changed.connect(self._on_changed)
        document.replaced.connect(self._said.clear)

    def check(self, node_ids: list[str] | None) -> list[str]:
        """Warn about the sizes of ``node_ids`` (None: every node, as a run starts)."""
        found = size_warnings(self.document.graph, self.document.registry, node_ids)
        for node_id, text in found:
            self.messages.add("warning", text, node_id)
        return [text for _n, text in found]

    def _on_changed(self, kind: str, node_id: object) -> None:
        if kind != "value" or not isinstance(node_id, str):
            return
        node = self.document.graph.nodes.get(node_id)
        if node is None or not {"width", "height"} <= set(node.values):
            return
        found = size_warnings(self.document.graph, self.document.registry, [node_id])
        text = found[0][1] if found else ""
        if text and text != self._said.get(node_id):
            self.messages.add("warning", text, node_id)
        self._said[node_id] = text
