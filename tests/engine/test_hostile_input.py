"""Malformed files from the outside world: each is one WorkflowError (or BatchError /
ModelLoadError) naming the file, the node and the field; never a traceback, never "ok"."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from app.batch.jobs import BatchError, expand_jobs, parse_sweep, read_job_file
from app.engine.registry import default_registry
from app.engine.workflow import WorkflowError
from app.interop.a1111 import graph_from_parameters, parse_parameters
from app.interop.open import open_workflow
from pipelines.untrusted_json import JsonInputError, loads, nesting_depth
from tests.interop import comfy_docs

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = json.loads((ROOT / "resources" / "workflows" / "default.json").read_text())


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def write(tmp_path: Path, doc: Any, name: str = "wf.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def refused(path: Path, registry, *words: str) -> str:
    with pytest.raises(WorkflowError) as info:
        open_workflow(path, registry)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def api(**inputs: Any) -> dict[str, Any]:
    doc = comfy_docs.api()
    doc["3"]["inputs"].update(inputs)
    return doc


# -- our own format ----------------------------------------------------------------------
@pytest.mark.parametrize("version", [-1, 0, True, 1.5, "1"])
def test_workflow_version_that_is_not_one_or_more(tmp_path, registry, version):
    refused(write(tmp_path, {**DEFAULT, "version": version}), registry, "'version'")


def test_node_version_from_the_future_is_refused(tmp_path, registry):
    doc = copy.deepcopy(DEFAULT)
    doc["nodes"][0]["type_version"] = 99
    refused(write(tmp_path, doc), registry, "node #1", "type_version", "newer")


def test_positions_as_text_name_node_and_field(tmp_path, registry):
    doc = copy.deepcopy(DEFAULT)
    doc["nodes"][2]["position"] = ["left", "top"]
    node = doc["nodes"][2]
    refused(write(tmp_path, doc), registry, f"node #{node['id']}", "position")


def test_repeated_keys_are_refused(tmp_path, registry):
    text = json.dumps(DEFAULT)[:-1] + ', "version": 1}'
    refused(write(tmp_path, text), registry, "'version' appears twice")


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_nesting_is_refused_before_parsing(tmp_path, registry, depth):
    text = json.dumps(DEFAULT)[:-1] + ', "metadata": ' + "[" * depth + "]" * depth + "}"
    refused(write(tmp_path, text), registry, f"nested {depth + 1} levels deep")


def test_deep_nesting_in_a_png_chunk(tmp_path, registry):
    for chunk in ("prompt", "workflow"):
        info = PngImagePlugin.PngInfo()
        info.add_text(chunk, "[" * 50_000 + "]" * 50_000)
        path = tmp_path / f"{chunk}.png"
        Image.new("RGB", (8, 8)).save(path, pnginfo=info)
        refused(path, registry, f"'{chunk}' text", "nested")


def test_lone_surrogate_is_refused_naming_where(tmp_path, registry):
    doc = copy.deepcopy(DEFAULT)
    doc["nodes"][1]["values"]["text"] = "a cat \ud800"
    refused(write(tmp_path, json.dumps(doc)), registry, "nodes[1].values.text", "surrogate")


def test_values_beyond_float_range_are_problems_not_crashes(tmp_path, registry):
    from app.engine.validation import validate

    doc = copy.deepcopy(DEFAULT)
    sampler = next(n for n in doc["nodes"] if n["type"] == "sampling.sampler")
    sampler["values"]["cfg"] = 10**400
    sampler["values"]["steps"] = "x" * 100_000
    graph = open_workflow(write(tmp_path, doc), registry)
    problems = {p.field: str(p) for p in validate(graph, registry)}
    assert "finite number" in problems["cfg"] and len(problems["steps"]) < 200


def test_nesting_depth_ignores_brackets_in_strings_and_is_linear():
    assert nesting_depth('{"a": "[[[[", "b": [1, {"c": "\\"]]"}]}') == 3
    assert nesting_depth('"unterminated [[[[') == 0
    assert nesting_depth("[" * 200_000) == 200_000
    with pytest.raises(JsonInputError, match="too large"):
        loads("[1, 2, 3]", max_chars=4)


# -- ComfyUI -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inputs", "field", "why"),
    [
        ({"seed": "abc"}, "seed", "expected an integer"),
        ({"seed": None}, "seed", "expected an integer"),
        ({"seed": 1e308}, "seed", "above the maximum"),
        ({"seed": -1}, "seed", "below the minimum"),
        ({"steps": None}, "steps", "expected an integer"),
        ({"steps": [1, 2, 3]}, "steps", "expected an integer"),
        ({"cfg": "high"}, "cfg", "expected a finite number"),
        ({"sampler_name": 5}, "sampler_name", "expected text"),
        ({"scheduler": None}, "scheduler", "expected text"),
        ({"denoise": {"a": 1}}, "denoise", "expected a finite number"),
    ],
)
def test_comfy_api_values_of_the_wrong_type(tmp_path, registry, inputs, field, why):
    refused(write(tmp_path, api(**inputs)), registry, "node #3 (KSampler)", f"'{field}'", why)


def test_comfy_nan_steps(tmp_path, registry):
    text = json.dumps(api(steps=float("nan")))  # Python's json writes NaN
    refused(write(tmp_path, text), registry, "node #3 (KSampler)", "'steps'")


def test_comfy_api_structure(tmp_path, registry):
    doc = comfy_docs.api()
    doc["3"]["inputs"] = [1, 2]
    refused(write(tmp_path, doc), registry, "node #3 (KSampler)", "'inputs'", "object")
    doc = comfy_docs.api()
    doc["6"]["_meta"] = {"title": ["x"]}
    refused(write(tmp_path, doc), registry, "node #6", "_meta.title")


def test_comfy_ui_structure(tmp_path, registry):
    def ui_with(index: int, **changes: Any) -> dict[str, Any]:
        doc = comfy_docs.ui()
        doc["nodes"][index].update(changes)
        return doc

    node = comfy_docs.ui()["nodes"][3]
    assert (node["id"], node["type"]) == (3, "KSampler")
    refused(write(tmp_path, ui_with(3, pos=["a", "b"])), registry, "node #3 (KSampler)", "'pos'")
    refused(write(tmp_path, ui_with(3, inputs=[5])), registry, "node #3", "'inputs.0'")
    refused(write(tmp_path, ui_with(3, inputs={"a": 1})), registry, "node #3", "'inputs'")
    refused(write(tmp_path, ui_with(3, title=["x"])), registry, "node #3", "'title'")
    refused(write(tmp_path, ui_with(3, widgets_values="abc")), registry, "'widgets_values'")
    refused(write(tmp_path, ui_with(3, widgets_values=[None, None, None])), registry,
            "node #3 (KSampler)", "'seed'")
    refused(write(tmp_path, ui_with(3, id=7)), registry, "used twice")
    doc = comfy_docs.ui()
    doc["links"][0] = [1, 2]
    refused(write(tmp_path, doc), registry, "link 1")


def test_comfy_widget_value_text_is_named(tmp_path, registry):
    doc = comfy_docs.ui()
    doc["nodes"][3]["widgets_values"][0] = "abc"
    refused(write(tmp_path, doc), registry, "node #3 (KSampler)", "'seed'", "'abc'")


def test_comfy_values_comfy_accepts_still_import(tmp_path, registry):
    graph = open_workflow(write(tmp_path, api(seed="42", steps=20.0, cfg="7.5")), registry)
    sampler = graph.nodes["3"].values
    assert (sampler["steps"], sampler["cfg"]) == (20, 7.5)
    noise = next(n for n in graph.nodes.values() if n.type == "sampling.noise")
    assert noise.values["seed"] == 42


# -- AUTOMATIC1111 -----------------------------------------------------------------------
def finishes(function: Any, *args: Any, bound: float = 10.0) -> Any:
    """``function(*args)`` in a thread that must be done within ``bound`` seconds (a
    generous limit: it only tells a linear parse from one that never ends)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"{function.__name__} did not finish"
    return result[0]


@pytest.mark.parametrize(
    "settings",
    [
        "a " * 500_000,  # a key that never ends: A1111's pattern backtracks on it
        "Key: " + '"\\' * 333_333,  # an unterminated quote full of escapes
        "," * 1_000_000,
        "a:" * 500_000,
    ],
)
def test_a_million_character_infotext_is_parsed(registry, settings):
    text = "a cat\nSteps: 20, " + settings
    assert len(text) > 600_000
    parsed = finishes(parse_parameters, text)
    assert parsed["settings"]["Steps"] == "20"
    finishes(graph_from_parameters, text, registry)


def test_infotext_numbers_beyond_python_limits_fall_back(registry):
    text = f"a cat\nSteps: 20, Seed: {'9' * 5000}, CFG scale: 1e999, Size: {'5' * 3000}x5"
    graph = graph_from_parameters(text, registry)
    notes = " ".join(graph.metadata["a1111"]["notes"])
    assert "size" in notes and len(notes) < 500


def test_infotext_keeps_quoted_values():
    parsed = parse_parameters('p\nSteps: 4, Lora hashes: "a: 1, b: 2", Model: x:y, odd item')
    assert parsed["settings"] == {"Steps": "4", "Lora hashes": "a: 1, b: 2", "Model": "x:y"}


def test_large_infotext_png_opens(tmp_path, registry):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, " + "a " * 450_000, zip=True)
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    graph = finishes(open_workflow, path, registry)
    assert "a1111" in graph.metadata


# -- job files and sweeps ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"Noise.seed": "\\ud800"}', "surrogate"),
        ("[" * 10_000 + "]" * 10_000, "nested"),
        ('{"Noise.seed": 1, "Noise.seed": 2}', "appears twice"),
        ('{"Noise.seed": NaN}', "finite"),
        ('{"Noise.seed": [1]}', "'Noise.seed'"),
        ("7", "expected an object"),
    ],
)
def test_bad_job_lines_name_file_and_line(tmp_path, line, why):
    path = write(tmp_path, '{"Noise.seed": 1}\n' + line + "\n", "jobs.jsonl")
    with pytest.raises(BatchError) as info:
        read_job_file(path)
    assert str(info.value).startswith(f"{path}, line 2:") and why in str(info.value)


def test_job_file_that_is_not_utf8_or_csv_over_the_cell_limit(tmp_path):
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b'{"a.b": "\xff"}\n')
    with pytest.raises(BatchError, match="not UTF-8"):
        read_job_file(path)
    csv_path = write(tmp_path, "Noise.seed,Positive Prompt.text\n1," + "x" * 200_000,
                     "jobs.csv")
    with pytest.raises(BatchError, match="line"):
        read_job_file(csv_path)


def test_a_million_jobs_are_refused_without_building_them():
    sweeps = [parse_sweep("Noise.seed=1..1000"), parse_sweep("Sampler.cfg=1..1000")]
    with pytest.raises(BatchError, match=r"too many jobs \(1,000,000.*use --jobs with a file "
                                         r"or split the sweep"):
        expand_jobs(sweeps)
    with pytest.raises(BatchError, match="too many values"):
        parse_sweep("Noise.seed=1..1000000")
