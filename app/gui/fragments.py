"""Copying and pasting parts of a workflow: the selected nodes and the links between them
as a JSON-ready fragment, pasted back with new ids as one undo step.

A mixin of :class:`app.gui.document.Document`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from app.engine.graph import MODES, NORMAL, Graph
from app.gui.value_inputs import fragment_extra, paste_extra

if TYPE_CHECKING:
    from app.engine.registry import Registry

FRAGMENT_FORMAT = "diffusion-studio/fragment"


class DocumentFragments:
    root: Graph

    if TYPE_CHECKING:  # the Document's own
        @property
        def graph(self) -> Graph: ...
        @property
        def registry(self) -> Registry: ...
        def _commit(self, label: str, before: Graph, kind: str = "structure",
                    node_id: str | None = None, merge_key: object | None = None) -> None: ...

    # -- clipboard -----------------------------------------------------------------------
    def fragment(self, node_ids: Iterable[str]) -> dict[str, Any]:
        """The selected nodes and the links between them, as a JSON-ready dict."""
        ids = [i for i in node_ids if i in self.graph.nodes]
        nodes = [
            {"id": n.id, "type": n.type, "title": n.title, "values": dict(n.values),
             "position": list(n.position), **({"mode": n.mode} if n.mode != NORMAL else {}),
             **fragment_extra(self.graph, n.id)}
            for n in (self.graph.nodes[i] for i in ids)
        ]
        links = [e.__dict__ for e in self.graph.edges if e.source in ids and e.target in ids]
        return {"format": FRAGMENT_FORMAT, "nodes": nodes, "links": links}

    def paste(self, fragment: dict[str, Any], offset: tuple[float, float] = (40, 40)) -> list[str]:
        """Add a copy of ``fragment`` with new ids; returns the new ids."""
        if fragment.get("format") != FRAGMENT_FORMAT:
            return []
        before = self.root.copy()
        mapping: dict[str, str] = {}
        for item in fragment.get("nodes", []):
            if item.get("type") not in self.registry:
                continue
            x, y = item.get("position", (0, 0))
            node = self.graph.add(item["type"], registry=self.registry, title=item.get("title"),
                                  values=item.get("values"),
                                  position=(x + offset[0], y + offset[1]))
            if item.get("mode") in MODES:
                node.mode = item["mode"]
            paste_extra(self.graph, node.id, item)
            mapping[item["id"]] = node.id
        for link in fragment.get("links", []):
            if link["source"] in mapping and link["target"] in mapping:
                self.graph.connect(mapping[link["source"]], link["output"],
                                   mapping[link["target"]], link["input"])
        self._commit("paste", before)
        return list(mapping.values())
