"""Loader nodes go through the process-wide model cache: new runs and new executors reuse a
loaded checkpoint, a LoRA never changes the cached base, and the run's precision and VRAM
settings reach the loaded networks."""

from __future__ import annotations

import pytest
import torch

from app.engine.executor import Executor
from node_api.context import RunOptions
from pipelines.loading import checkpoint as loading
from pipelines.memory.cache import default_cache
from tests.nodes.conftest import txt2img_graph

_REAL_LOAD = loading.load_checkpoint


@pytest.fixture(autouse=True)
def fresh_cache():
    """An empty process-wide cache with its budgets, restored afterwards."""
    cache = default_cache()
    budgets = cache.ram_budget, cache.vram_budget
    cache.clear()
    yield cache
    cache.clear()
    cache.set_budgets(*budgets)


@pytest.fixture()
def loads(monkeypatch):
    calls: list = []

    def counting(path, *args, **kwargs):
        calls.append(path)
        return _REAL_LOAD(path, *args, **kwargs)

    monkeypatch.setattr(loading, "load_checkpoint", counting)
    return calls


def _loaded(registry, checkpoint, executor=None, **options):
    graph = txt2img_graph(registry, checkpoint)
    result = (executor or Executor(registry)).run(graph, targets=["1"],
                                                  options=RunOptions(**options))
    assert result.status == "ok", result.error
    assert "1" in result.executed  # the node ran: what it returned came from the model cache
    return result.outputs["1"]


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory):
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd-2", seed=1)


def test_switching_checkpoints_reuses_both(registry, tiny_checkpoint, second_checkpoint, loads):
    executor = Executor(registry, caching=False)  # no result cache: only the model cache helps
    first = _loaded(registry, tiny_checkpoint, executor)
    second = _loaded(registry, second_checkpoint, executor)
    assert first[0] is not second[0]
    again = _loaded(registry, tiny_checkpoint, Executor(registry))  # a new run, a new executor
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert loads == [tiny_checkpoint, second_checkpoint]
    assert default_cache().stats()["hits"] == 1


def test_a_budget_for_one_model_reloads_on_switch(registry, tiny_checkpoint, second_checkpoint,
                                                  loads, fresh_cache):
    fresh_cache.set_budgets(ram=1)  # smaller than any model: only the latest one stays
    first = _loaded(registry, tiny_checkpoint)
    _loaded(registry, second_checkpoint)
    assert _loaded(registry, tiny_checkpoint)[0] is not first[0]
    assert loads == [tiny_checkpoint, second_checkpoint, tiny_checkpoint]


def test_a_lora_does_not_change_the_cached_base(registry, tmp_path, loads):
    from safetensors.torch import save_file

    from pipelines.testing.tiny_families import build_family
    from tests.pipelines.test_lora import make_lora

    tiny = build_family("sd1", tmp_path / "build")
    model, clip, _ = _REAL_LOAD(tiny.folder)
    save_file(make_lora(model, clip, "kohya", seed=1), str(tmp_path / "a.safetensors"))
    graph = txt2img_graph(registry, tiny.file, steps=2)
    graph.add("loaders.lora", registry=registry, node_id="lora",
              values={"lora": str(tmp_path / "a.safetensors")})
    graph.connect("1", "model", "lora", "model")
    graph.connect("1", "clip", "lora", "clip")
    graph.connect("lora", "model", "6", "model")
    graph.connect("lora", "clip", "2", "clip")
    graph.connect("lora", "clip", "3", "clip")
    result = Executor(registry).run(graph, targets=["6", "lora"])
    assert result.status == "ok", result.error
    patched = result.outputs["lora"][0].denoiser.state_dict()
    cached_model, cached_clip, _ = _loaded(registry, tiny.file)
    assert len(loads) == 1  # the second load was a hit
    fresh_model, fresh_clip, _ = _REAL_LOAD(tiny.file)
    for cached, fresh in ((cached_model.denoiser, fresh_model.denoiser),
                          (cached_clip.text_encoder, fresh_clip.text_encoder)):
        fresh_state = fresh.state_dict()
        assert all(torch.equal(v, fresh_state[k]) for k, v in cached.state_dict().items())
    assert any(not torch.equal(v, fresh_model.denoiser.state_dict()[k]) for k, v in patched.items())


def test_precision_reaches_the_loaded_networks(registry, tiny_checkpoint, tmp_path):
    model, clip, vae = _loaded(registry, tiny_checkpoint, precision="bf16", vae_precision="fp32")
    assert model.denoiser.dtype == clip.text_encoder.dtype == torch.bfloat16
    assert vae.vae.dtype == torch.float32
    model32 = _loaded(registry, tiny_checkpoint)[0]
    assert model32.denoiser.dtype == torch.float32 and model32 is not model


def test_low_vram_mode_runs_end_to_end_on_cpu(registry, tiny_checkpoint, tmp_path):
    graph = txt2img_graph(registry, tiny_checkpoint)
    images = []
    for mode in ("normal", "low"):
        result = Executor(registry).run(graph, targets=["7"], options=RunOptions(
            vram_mode=mode, output_dir=tmp_path))
        assert result.status == "ok", result.error
        images.append(result.outputs["7"][0])
    assert torch.equal(images[0], images[1])  # the CPU has no VRAM to save: same networks
    bad = Executor(registry).run(graph, targets=["1"], options=RunOptions(vram_mode="tiny"))
    assert bad.status == "failed" and "vram mode 'tiny'" in bad.error


def test_cli_flags_become_run_options_and_budgets(fresh_cache):
    from app.cli.common import memory_options
    from app.cli.main import build_parser

    args = build_parser().parse_args(["run", "wf.json", "--precision", "fp16", "--vram", "low",
                                      "--vae-precision", "fp32", "--ram-budget", "0.25"])
    assert memory_options(args) == {"precision": "fp16", "vae_precision": "fp32",
                                    "vram_mode": "low"}
    assert fresh_cache.ram_budget == 2**28
    batch = build_parser().parse_args(["batch", "wf.json", "--vram", "normal"])
    assert memory_options(batch)["vram_mode"] == "normal"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "wf.json", "--ram-budget", "-1"])
