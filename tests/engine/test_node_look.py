"""A node's colour and pin (issue 11's node menu): saved in the workflow, read from ComfyUI's
UI files, and nothing a run reads (the cache keys stay the same)."""

from __future__ import annotations

import json

from app.engine.executor import Executor
from app.engine.workflow import save_workflow, to_document
from app.interop.open import open_workflow
from tests.engine.toy_nodes import make_chain
from tests.interop import comfy_docs


def test_colour_and_pin_are_saved_and_read_back(tmp_path):
    registry, _, _, graph = make_chain()
    graph.nodes["3"].colour, graph.nodes["3"].pinned = "#7a3f5a", True
    path = tmp_path / "look.json"
    save_workflow(graph, path)
    again = open_workflow(path, registry)
    assert again == graph and again.nodes["3"].colour == "#7a3f5a" and again.nodes["3"].pinned
    plain = to_document(graph)["nodes"][0]
    assert "colour" not in plain and "pinned" not in plain  # defaults are not written


def test_a_colour_that_is_no_colour_is_dropped_and_the_file_opens(tmp_path):
    registry, _, _, graph = make_chain()
    doc = to_document(graph)
    doc["nodes"][2]["colour"] = "red; background: url(x)"
    doc["nodes"][1]["colour"] = "#AABBCC"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    opened = open_workflow(path, registry)
    assert opened.nodes["3"].colour is None and opened.nodes["2"].colour == "#aabbcc"


def test_the_look_changes_no_cache_key():
    registry, _, _, graph = make_chain()
    executor = Executor(registry)
    assert executor.run(graph).status == "ok"
    graph.nodes["3"].colour, graph.nodes["3"].pinned = "#335577", True
    result = executor.run(graph)
    assert result.status == "ok"
    assert "3" in result.cached and "3" not in result.executed


def test_comfyui_node_colours_and_pins_come_across(tmp_path):
    ui = comfy_docs.ui()
    sampler = next(n for n in ui["nodes"] if n["type"] == "KSampler")
    sampler.update(color="#332922", bgcolor="#593930", flags={"pinned": True})
    prompt = next(n for n in ui["nodes"] if n["type"] == "CLIPTextEncode")
    prompt.update(color="javascript:alert(1)", flags={"pinned": "yes"})
    path = tmp_path / "ui.json"
    path.write_text(json.dumps(ui))
    graph = open_workflow(path, strict=False)
    ours = graph.nodes[str(sampler["id"])]
    assert ours.colour == "#593930" and ours.pinned
    other = graph.nodes[str(prompt["id"])]
    assert other.colour is None and not other.pinned  # not a colour, not a pin: ignored
