"""The compile-time store (atomic, tolerant of a damaged file) and the status text it feeds;
the compiled denoiser times each new input shape once and announces it before compiling."""

from __future__ import annotations

import json

import pytest
import torch

from pipelines.speed import accelerate
from pipelines.speed.compile_times import FILE_NAME, CompileTimes, compile_key, compiling_text


def test_estimates_are_kept_between_instances_and_the_latest_counts(tmp_path):
    key = compile_key("sd15:UNet2DConditionModel:859520964", "2x4x64x64", "max", "cuda")
    other = compile_key("sd15:UNet2DConditionModel:859520964", "2x4x128x128", "max", "cuda")
    store = CompileTimes(tmp_path / "new" / "folder")
    assert store.estimate(key) is None  # no file yet
    store.record(key, 61.234)
    store.record(other, 90.0)
    again = CompileTimes(tmp_path / "new" / "folder")
    assert again.estimate(key) == pytest.approx(61.23) and again.estimate(other) == 90.0
    again.record(key, 12.0)  # a later launch read inductor's disk cache: faster
    assert CompileTimes(tmp_path / "new" / "folder").estimate(key) == 12.0
    assert [p.name for p in (tmp_path / "new" / "folder").iterdir()] == [FILE_NAME]  # no scratch


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"k": "soon"}', "", "\x00\xff"])
def test_a_damaged_file_reads_as_empty_and_is_replaced(tmp_path, content):
    (tmp_path / FILE_NAME).write_bytes(content.encode("utf-8", "surrogateescape"))
    store = CompileTimes(tmp_path)
    assert store.estimate("k") is None
    store.record("k", 3.0)
    assert json.loads((tmp_path / FILE_NAME).read_text()) == {"k": 3.0}


def test_bad_values_are_ignored_and_an_unwritable_folder_only_loses_the_estimate(tmp_path):
    (tmp_path / FILE_NAME).write_text(json.dumps({"a": -1, "b": True, "c": 2.5, "d": None}))
    assert CompileTimes(tmp_path).estimate("c") == 2.5
    assert all(CompileTimes(tmp_path).estimate(k) is None for k in "abd")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    CompileTimes(blocked / "sub").record("k", 1.0)  # cannot make the folder: no exception
    assert CompileTimes(blocked / "sub").estimate("k") is None


def test_the_status_text_says_how_long_when_measured_before():
    assert compiling_text(None) == ("preparing the first step (compiling the model for this "
                                    "size: once, may take minutes)…")
    assert compiling_text(42.4) == "compiling the model for this size, ~42 s, once…"
    assert compiling_text(0.2) == "compiling the model for this size, ~1 s, once…"
    assert compiling_text(612.6) == "compiling the model for this size, ~613 s, once…"


def test_each_new_shape_is_announced_timed_and_stored_once(tmp_path, monkeypatch):
    monkeypatch.setattr(accelerate, "cache_folder", lambda: tmp_path)
    net = torch.nn.Linear(4, 4)
    calls: list[tuple[int, ...]] = []

    def compiled(x):  # stands in for torch.compile's module: what wraps it is under test
        calls.append(tuple(x.shape))
        return net(x)

    wrapped = accelerate.CompiledDenoiser(net, compiled, graphs=False,
                                          key=("toy:Linear:20", "compile", "cpu"))
    heard: list[float | None] = []
    with accelerate.compile_notices(heard.append):
        for rows in (2, 2, 3, 2):
            assert torch.equal(wrapped(torch.ones(rows, 4)), net(torch.ones(rows, 4)))
    assert calls == [(2, 4), (2, 4), (3, 4), (2, 4)]
    assert heard == [None, None]  # the two new shapes, never measured before
    stored = json.loads((tmp_path / FILE_NAME).read_text())
    assert set(stored) == {"toy:Linear:20|2x4|compile|cpu", "toy:Linear:20|3x4|compile|cpu"}
    wrapped(torch.ones(5, 4))  # outside compile_notices: nobody to tell, still measured
    assert len(json.loads((tmp_path / FILE_NAME).read_text())) == 3
    fresh = accelerate.CompiledDenoiser(net, compiled, graphs=False,
                                        key=("toy:Linear:20", "compile", "cpu"))
    with accelerate.compile_notices(heard.append):
        fresh(torch.ones(3, 4))
    assert heard[-1] == stored["toy:Linear:20|3x4|compile|cpu"]  # the next launch knows


def test_the_identity_is_the_architecture():
    class Model:
        family, denoiser = "sd15", torch.nn.Linear(4, 4)

    assert accelerate.identity(Model()) == "sd15:Linear:20"
