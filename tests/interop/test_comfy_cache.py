"""ComfyUI's EasyCache and LazyCache open as our Step Cache (values kept, differences noted),
from API and UI files; a Step Cache exports as an EasyCache that ComfyUI accepts; the imported
workflow runs on a tiny model with the cache really skipping steps."""

from __future__ import annotations

import json

import pytest

from app.engine.validation import validate
from app.engine.workflow import WorkflowError
from app.interop.comfy import load_comfy
from app.interop.comfy_export import ExportError, to_comfy_api
from tests.interop import basic_docs, comfy_docs
from tests.interop.comfy_validity import problems


def cache_doc(cls: str = "EasyCache", **widgets) -> dict:
    doc = comfy_docs.api()
    values = {"reuse_threshold": 0.3, "start_percent": 0.1, "end_percent": 0.9,
              "verbose": True, **widgets}
    doc["20"] = {"class_type": cls, "inputs": {"model": ["4", 0], **values}}
    doc["3"]["inputs"]["model"] = ["20", 0]
    return doc


def _to_ui(doc: dict) -> dict:
    """basic_docs' UI writer, with EasyCache's slots while it writes."""
    saved = dict(basic_docs.OUTPUT_TYPES), dict(basic_docs.WIDGETS)
    basic_docs.OUTPUT_TYPES["EasyCache"] = ("MODEL",)
    basic_docs.WIDGETS["EasyCache"] = ("reuse_threshold", "start_percent", "end_percent",
                                       "verbose")
    try:
        return basic_docs.to_ui(doc)
    finally:
        for table, old in zip((basic_docs.OUTPUT_TYPES, basic_docs.WIDGETS), saved,
                              strict=True):
            table.clear()
            table.update(old)


@pytest.mark.parametrize(("cls", "form"), [("EasyCache", "api"), ("LazyCache", "api"),
                                           ("EasyCache", "ui")])
def test_easycache_opens_as_our_step_cache(registry, cls, form):
    doc = cache_doc(cls)
    graph = load_comfy(doc if form == "api" else _to_ui(doc), "cache.json", registry)
    node = graph.nodes["20"]
    assert node.type == "model.step_cache"
    assert node.values == {"threshold": 0.3, "start": 0.1, "end": 0.9}
    assert graph.incoming("3")["model"].source == "20"
    assert graph.incoming("20")["model"].source == "4"
    assert validate(graph, registry) == []
    notes = json.dumps(graph.metadata["comfyui"]["notes"])
    assert f"{cls}: sampled with our Step Cache" in notes and "sigmas" in notes


def test_easycache_defaults_and_bad_values(registry):
    doc = cache_doc()
    for name in ("reuse_threshold", "start_percent", "end_percent", "verbose"):
        del doc["20"]["inputs"][name]
    graph = load_comfy(doc, "cache.json", registry)
    assert graph.nodes["20"].values == {"threshold": 0.2, "start": 0.15, "end": 0.95}
    with pytest.raises(WorkflowError, match="end_percent"):
        load_comfy(cache_doc(start_percent=0.8, end_percent=0.5), "cache.json", registry)
    with pytest.raises(WorkflowError, match="reuse_threshold"):
        load_comfy(cache_doc(reuse_threshold=7.0), "cache.json", registry)


def test_step_cache_exports_as_an_easycache_comfyui_accepts(registry):
    graph = load_comfy(cache_doc("LazyCache"), "cache.json", registry)
    prompt = to_comfy_api(graph, registry)
    assert prompt["20"]["class_type"] == "EasyCache"
    assert prompt["20"]["inputs"] == {"reuse_threshold": 0.3, "start_percent": 0.1,
                                      "end_percent": 0.9, "verbose": False, "model": ["4", 0]}
    assert problems(prompt) == []
    back = load_comfy(json.loads(json.dumps(prompt)), "back.json", registry)
    assert back.nodes["20"].values == graph.nodes["20"].values
    graph.nodes["20"].values["threshold"] = 4.0  # ours goes to 5, EasyCache to 3
    with pytest.raises(ExportError, match="at most 3"):
        to_comfy_api(graph, registry)


def test_an_imported_easycache_runs_and_skips(registry, tiny_sd_checkpoint, tmp_path,
                                              monkeypatch):
    from app.engine.executor import Executor
    from node_api.context import RunOptions
    from pipelines.sampling.step_cache import StepCache

    graph = load_comfy(cache_doc(reuse_threshold=3.0, start_percent=0.0, end_percent=1.0),
                       "cache.json", registry)
    for node in graph.nodes.values():
        node.values.update({"loaders.checkpoint": {"checkpoint": str(tiny_sd_checkpoint)},
                            "latent.empty": {"width": 32, "height": 32},
                            "sampling.sampler": {"steps": 6}}.get(node.type, {}))
    used = []
    run = StepCache.run
    monkeypatch.setattr(StepCache, "run", lambda self, *a: (used.append(self), run(self, *a))[1])
    result = Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path))
    assert result.status == "ok", result.error
    computed, skipped = used[0].last_run[0]
    assert skipped > 0 and computed + skipped == 6
