from __future__ import annotations

import json

import pytest

from app.engine import workflow
from app.engine.graph import Graph
from app.engine.overrides import OverrideError, apply_overrides
from app.engine.workflow import WorkflowError, save_workflow
from app.interop.open import open_workflow
from tests.engine.toy_nodes import make_registry


def _graph(registry) -> Graph:
    g = Graph(metadata={"author": "me"})
    g.add("toy.const", registry=registry, node_id="1", title="Seed", position=(10, 20))
    g.add("toy.add", registry=registry, node_id="7")
    g.add("toy.sink", registry=registry, node_id="3")
    g.connect("1", "out", "7", "a")
    g.connect("7", "out", "3", "x")
    return g


def test_save_and_load_round_trip_keeps_ids_titles_positions_and_values(tmp_path):
    registry, _, _ = make_registry()
    g = _graph(registry)
    path = save_workflow(g, tmp_path / "w.json")
    loaded = open_workflow(path, registry)
    assert loaded == g
    assert loaded.nodes["7"].title == "Add" and loaded.nodes["1"].position == (10, 20)
    doc = json.loads(path.read_text())
    assert doc["format"] == workflow.FORMAT and doc["version"] == workflow.VERSION


def test_unknown_extra_fields_are_tolerated(tmp_path):
    registry, _, _ = make_registry()
    doc = workflow.to_document(_graph(registry))
    doc["future_field"] = {"x": 1}
    doc["nodes"][0]["colour"] = "red"
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    assert open_workflow(path, registry).nodes["1"].title == "Seed"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "diffusion-studio/workflow", "version": 1, "nodes": [', "truncated"),
        ('[1, 2]', "top level must be a JSON object"),
        ('{"format": "other"}', "not a workflow of this app"),
        ('{"format": "diffusion-studio/workflow", "version": 1, "nodes": [{"id": 1}]}',
         "wrong structure"),
        ('{"format": "diffusion-studio/workflow", "version": 99, "nodes": []}', "newer version"),
    ],
)
def test_bad_files_raise_one_workflow_error_naming_the_file(tmp_path, content, expected):
    registry, _, _ = make_registry()
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(WorkflowError) as info:
        open_workflow(path, registry)
    assert "bad.json" in str(info.value) and expected in str(info.value)


def test_unknown_node_types_and_dangling_links_are_reported(tmp_path):
    registry, _, _ = make_registry()
    doc = workflow.to_document(_graph(registry))
    doc["nodes"].append({"id": "9", "type": "toy.mystery"})
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(WorkflowError, match="unknown node type.*toy.mystery"):
        open_workflow(path, registry)
    assert "9" in open_workflow(path, registry, strict=False).nodes
    doc["nodes"].pop()
    doc["links"].append({"source": "42", "output": "out", "target": "3", "input": "x"})
    path.write_text(json.dumps(doc))
    with pytest.raises(WorkflowError, match="missing node #42"):
        open_workflow(path, registry)


def test_missing_file_and_non_workflow_png(tmp_path):
    from PIL import Image

    with pytest.raises(WorkflowError, match="no such file"):
        open_workflow(tmp_path / "nope.json")
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(WorkflowError, match="carries no workflow"):
        open_workflow(tmp_path / "plain.png")


def test_older_versions_are_upgraded_through_ordered_migrations(tmp_path, monkeypatch):
    registry, _, _ = make_registry()
    doc = workflow.to_document(_graph(registry))
    # Pretend today's format is 3 and the file is version 1 with links as 4-item arrays.
    monkeypatch.setattr(workflow, "VERSION", 3)
    seen = []

    def v1_to_v2(raw):
        seen.append(1)
        raw["links"] = [dict(zip(("source", "output", "target", "input"), link, strict=True))
                        for link in raw["links"]]
        return raw

    def v2_to_v3(raw):
        seen.append(2)
        raw["metadata"] = {**raw.get("metadata", {}), "migrated": True}
        return raw

    monkeypatch.setattr(workflow, "MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    doc["version"] = 1
    doc["links"] = [[e["source"], e["output"], e["target"], e["input"]] for e in doc["links"]]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    loaded = open_workflow(path, registry)
    assert seen == [1, 2]
    assert len(loaded.edges) == 2 and loaded.metadata["migrated"] is True


def test_node_values_are_migrated_by_the_node_types_own_migrations(tmp_path):
    from node_api.declaration import Int, Output, node

    registry, _, _ = make_registry()

    @node("toy.v2", title="V2", category="toy", version=2, registry=registry,
          inputs=[Int("count", 1)], outputs=[Output("out", "LATENT")],
          migrations={1: lambda v: {"count": v.pop("n", 1)}})
    def v2(ctx, count):
        return count

    g = Graph()
    g.add("toy.v2", registry=registry, node_id="1")
    doc = workflow.to_document(g)
    doc["nodes"][0].update(type_version=1, values={"n": 5})
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    node_ = open_workflow(path, registry).nodes["1"]
    assert node_.values == {"count": 5} and node_.type_version == 2


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    registry, _, _ = make_registry()
    path = save_workflow(_graph(registry), tmp_path / "w.json")
    before = path.read_text()
    g = _graph(registry)
    g.metadata["bad"] = object()  # not JSON-serialisable: saving must fail cleanly
    with pytest.raises(WorkflowError, match="cannot be saved.*not JSON serializable"):
        save_workflow(g, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.json"]


def test_overrides_by_title_and_id_with_clear_errors():
    registry, _, _ = make_registry()
    g = _graph(registry)
    changed = apply_overrides(g, registry, ["Seed.value=42", "7.scale=2.5"])
    assert changed.nodes["1"].values["value"] == 42 and changed.nodes["7"].values["scale"] == 2.5
    assert g.nodes["1"].values["value"] == 1  # the original is untouched
    with pytest.raises(OverrideError) as info:
        apply_overrides(g, registry, ["Nobody.value=1", "Seed.nope=1", "Seed.value=x",
                                      "Seed.value=500", "garbage"])
    text = str(info.value)
    assert "no node with id or title 'Nobody'" in text
    assert "has no field 'nope'" in text
    assert "expected an integer, got 'x'" in text
    assert "above the maximum" in text
    assert "expected NODE.FIELD=VALUE" in text
