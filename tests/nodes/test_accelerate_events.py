"""Acceleration through the real Sampler node: where compiling is unavailable the run says so
once (a RunMessage, printed by the CLI), and a first step that compiles is announced with
the last measured compile time and measured itself."""

from __future__ import annotations

import json
import os

import pytest

from app.cli.progress import ProgressPrinter
from app.engine.executor import Executor
from node_api.context import RunOptions
from node_api.events import NodeStatus, RunMessage, StepProgress
from pipelines.memory.cache import default_cache
from pipelines.speed import accelerate
from pipelines.speed.compile_times import FILE_NAME


def _two_samplers(graph, registry):
    """``graph`` (txt2img) with a second Sampler refining the first's latent into the decode:
    two sampler nodes that both ask for acceleration in one run."""
    first = graph.nodes["6"]
    graph.add("sampling.sampler", registry=registry, node_id="9", values=dict(first.values))
    for edge in [e for e in graph.edges if e.target == "6" and e.input != "latent"]:
        graph.connect(edge.source, edge.output, "9", edge.input)
    graph.connect("6", "latent", "9", "latent")
    graph.disconnect("7", "latent")
    graph.connect("9", "latent", "7", "latent")
    return graph


def _no_compiler(monkeypatch):
    monkeypatch.setattr(accelerate.shutil, "which", lambda name: None)


def test_unavailable_compile_is_said_once_per_run_through_the_events(
        registry, txt2img, tmp_path, monkeypatch, capsys):
    _no_compiler(monkeypatch)
    graph = _two_samplers(txt2img, registry)
    events: list = []
    result = Executor(registry).run(
        graph, options=RunOptions(output_dir=tmp_path, accelerate="max", previews=False),
        listeners=[events.append, ProgressPrinter(quiet=True)])
    assert result.status == "ok", result.error
    assert set(result.executed) >= {"6", "9"}  # both samplers ran and asked
    said = [e for e in events if isinstance(e, RunMessage)]
    assert len(said) == 1
    assert said[0].level == "warning" and said[0].node_id == "6"
    assert "no C++ compiler" in said[0].text and "running without it" in said[0].text
    err = capsys.readouterr().err  # the CLI's printer says it even when quiet
    assert err.count("no C++ compiler") == 1 and err.startswith("warning: acceleration 'max'")
    # off says nothing
    events.clear()
    Executor(registry).run(graph, options=RunOptions(output_dir=tmp_path, accelerate="off"),
                           listeners=[events.append])
    assert not [e for e in events if isinstance(e, RunMessage)]


def test_a_compiling_first_step_is_announced_with_the_last_measured_time(
        registry, txt2img, tmp_path, monkeypatch):
    if accelerate.unavailable(__import__("torch").device("cpu")) is not None:
        pytest.skip("no C++ compiler here")
    import torch

    # inductor takes minutes on a small CPU: the "compiled" module is the eager one, so this
    # tests what wraps compiling (the notice, the timing, the store), not inductor itself
    monkeypatch.setattr(torch, "compile", lambda module, mode=None: module)
    monkeypatch.setattr(accelerate, "cache_folder", lambda: tmp_path / "cache")
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TORCHINDUCTOR_FX_GRAPH_CACHE",
                 "TORCHINDUCTOR_AUTOGRAD_CACHE"):
        monkeypatch.setenv(name, os.environ.get(name, str(tmp_path / "inductor")))
    options = RunOptions(output_dir=tmp_path, accelerate="compile", previews=False)

    def statuses(executor):
        events: list = []
        result = executor.run(txt2img, options=options, listeners=[events.append], force=True)
        assert result.status == "ok", result.error
        first_step = next(i for i, e in enumerate(events) if isinstance(e, StepProgress))
        said = [(i, e.text) for i, e in enumerate(events) if isinstance(e, NodeStatus)]
        assert all(i < first_step for i, _ in said)
        return [text for _, text in said]

    first = statuses(Executor(registry))
    assert first == ["preparing the first step (compiling the model for this size: once, "
                     "may take minutes)…"]
    times = json.loads((tmp_path / "cache" / FILE_NAME).read_text())
    assert len(times) == 1
    key = next(iter(times))
    assert key.startswith("unknown:UNet2DConditionModel:") and key.endswith("|compile|cpu")
    assert "|2x4x16x16|" in key  # CFG's batch of two latents of a 32 px image
    assert statuses(Executor(registry)) == []  # compiled for this size in this process
    # the next launch (a new compiled module) announces the measured time
    times[key] = 42.4
    (tmp_path / "cache" / FILE_NAME).write_text(json.dumps(times))
    default_cache().clear()  # as in a new process: the model loads again, not yet compiled
    assert statuses(Executor(registry)) == ["compiling the model for this size, ~42 s, once…"]

