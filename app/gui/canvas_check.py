"""Compare what the canvas draws with the Document: every node, port, value and link.

The canvas is only a view; this lists each way it differs from the graph (empty when it shows
exactly the document). Tests call it after open, drop, undo and redo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.gui.value_inputs import value_ports

if TYPE_CHECKING:
    from app.gui.canvas import Canvas


def view_differences(canvas: Canvas) -> list[str]:
    """Each difference between the drawn canvas and ``canvas.document.graph``, in words."""
    graph, registry = canvas.document.graph, canvas.document.registry
    problems: list[str] = []
    drawn = {n.id for n in canvas.graph_view.all_nodes()}
    known = set(canvas._ids)
    if drawn != known:
        problems.append(f"canvas items without a graph node: {len(drawn - known)}, "
                        f"mapped items no longer drawn: {len(known - drawn)}")
    if set(canvas._views) != set(graph.nodes):
        problems.append(f"nodes drawn {sorted(canvas._views)} != graph {sorted(graph.nodes)}")
    for node_id, node in graph.nodes.items():
        view = canvas._views.get(node_id)
        if view is None:
            continue
        spec = registry.get(node.type)
        where = f"node {node_id} ({node.type})"
        wanted_kind = canvas._kind(node.type)
        if view.type_ != wanted_kind:
            problems.append(f"{where}: drawn as {view.type_}")
        title = node.title if spec is not None else f"{node.title} (missing: {node.type})"
        if view.view.name != title:
            problems.append(f"{where}: title {view.view.name!r} != {title!r}")
        if tuple(view.view.xy_pos) != tuple(node.position):
            problems.append(f"{where}: at {tuple(view.view.xy_pos)} != {node.position}")
        if getattr(view.view, "mode", "normal") != node.mode:
            problems.append(f"{where}: drawn as mode {view.view.mode!r} != {node.mode!r}")
        inputs = [link.name for link in spec.links] if spec else []
        inputs += value_ports(graph, registry, node_id)
        outputs = [out.name for out in spec.outputs] if spec else []
        if list(view.inputs()) != inputs:
            problems.append(f"{where}: input ports {list(view.inputs())} != {inputs}")
        if list(view.outputs()) != outputs:
            problems.append(f"{where}: output ports {list(view.outputs())} != {outputs}")
        editors = canvas.node_values(node_id)
        declared = {d.name: node.values.get(d.name, d.default) for d in spec.values} \
            if spec else {}
        shown = editors.get_value() if editors is not None else {}
        if shown != declared:
            problems.append(f"{where}: values shown {shown} != {declared}")
    drawn_groups = [item.group for item in canvas.groups.items]
    if drawn_groups != graph.groups or any(
            tuple(item.pos().toTuple()) != item.group.bounds[:2] for item in canvas.groups.items):
        problems.append(f"groups drawn {drawn_groups} != {graph.groups}")
    drawn_links, links = canvas._view_links(), set(graph.edges)
    if drawn_links != links:
        problems.append(f"links drawn but not in the graph: {sorted(map(str, drawn_links - links))}"
                        f"; in the graph but not drawn: {sorted(map(str, links - drawn_links))}")
    return problems
