from __future__ import annotations

from app.engine.graph import Graph
from app.engine.validation import validate
from tests.engine.toy_nodes import make_registry


def test_every_problem_is_reported_at_once_with_node_and_field():
    registry, _, _ = make_registry()
    g = Graph()
    g.add("toy.const", registry=registry, node_id="1", values={"value": -5})
    g.add("toy.add", registry=registry, node_id="2", values={"scale": "abc"})  # 'a' unlinked
    g.add("toy.fail", registry=registry, node_id="3", values={"mode": "explode"})
    g.add("toy.nope", node_id="4")
    g.add("toy.text", registry=registry, node_id="5")
    g.add("toy.steps", registry=registry, node_id="6")
    g.connect("5", "out", "6", "x")  # CONDITIONING into LATENT
    g.connect("1", "out", "3", "x")
    problems = validate(g, registry)
    text = "\n".join(str(p) for p in problems)
    assert "'Constant' (#1), field 'value': -5 is below the minimum 0" in text
    assert "'Add' (#2), field 'scale'" in text
    assert "'Add' (#2), field 'a': needs a LATENT input linked" in text
    assert "'Fail' (#3), field 'mode': 'explode' is not one of: raise, pass" in text
    assert "unknown node type 'toy.nope'" in text
    assert "field 'x': expects LATENT but is linked to CONDITIONING" in text
    assert "no output node" in text
    assert len(problems) == 7


def test_cycle_is_reported():
    registry, _, _ = make_registry()
    g = Graph()
    g.add("toy.add", registry=registry, node_id="1")
    g.add("toy.add", registry=registry, node_id="2")
    g.add("toy.sink", registry=registry, node_id="3")
    g.connect("1", "out", "2", "a")
    g.connect("2", "out", "1", "a")
    g.connect("2", "out", "3", "x")
    assert any("cycle" in str(p) for p in validate(g, registry))


def test_valid_graph_has_no_problems():
    registry, _, _ = make_registry()
    g = Graph()
    g.add("toy.const", registry=registry, node_id="1")
    g.add("toy.sink", registry=registry, node_id="2")
    g.connect("1", "out", "2", "x")
    assert validate(g, registry) == []


def test_unknown_value_field_is_reported():
    registry, _, _ = make_registry()
    g = Graph()
    g.add("toy.const", registry=registry, node_id="1", values={"valu": 3})
    g.add("toy.sink", registry=registry, node_id="2")
    g.connect("1", "out", "2", "x")
    assert [p.field for p in validate(g, registry)] == ["valu"]
