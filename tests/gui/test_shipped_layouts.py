"""The shipped workflows, as a new user first sees them: no node drawn over another (seen in
a real X11 window: hires_fix's Save First Pass hid the Hires Sampler's last fields)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.conftest import open_window

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "resources" / "workflows")
                   .glob("*.json"))


@pytest.fixture(scope="module")
def registry():
    from app.engine.registry import default_registry

    return default_registry()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_no_node_is_drawn_over_another(qtbot, tmp_path, registry, path):
    win = open_window(qtbot, tmp_path, registry)
    assert win.open_file(path)
    rects = {node_id: win.canvas.view_node(node_id).view.sceneBoundingRect()
             for node_id in win.document.graph.nodes}
    ids = sorted(rects)
    over = [(win.document.graph.nodes[a].title or a, win.document.graph.nodes[b].title or b)
            for i, a in enumerate(ids) for b in ids[i + 1:] if rects[a].intersects(rects[b])]
    assert over == []
