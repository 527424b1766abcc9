"""Batch runs on a toy node set: specs, product/zip, job files, manifest, failures, resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from app.batch.runner import (
    BatchError,
    BatchRunner,
    Manifest,
    combine,
    expand_jobs,
    make_jobs,
    parse_spec,
    parse_sweep,
    read_job_file,
)
from app.engine.graph import Graph
from app.engine.registry import Registry
from node_api.context import CancelToken
from node_api.declaration import Int, Link, Output, String, node
from node_api.events import StepProgress
from node_api.files import atomic_write

# -- expansion -----------------------------------------------------------------------


def test_spec_lists_ranges_and_files(tmp_path):
    assert parse_spec("a, b,c") == ["a", "b", "c"]
    assert parse_spec("1..5") == [1, 2, 3, 4, 5]
    assert parse_spec("3..1") == [3, 2, 1]
    assert parse_spec("0..10:5") == [0, 5, 10]
    assert parse_spec("0.5..1.0:0.1") == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert parse_spec("-1..1") == [-1, 0, 1]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n\n  a blue square, big  \n")
    assert parse_spec(f"@{prompts}") == ["a red circle", "a blue square, big"]
    assert parse_sweep("Positive Prompt.text=x,y") == ("Positive Prompt.text", ["x", "y"])


@pytest.mark.parametrize("spec, words", [
    ("0.5..1.0", "needs a step"), ("1..5:0", "never gets"), ("1..5:-1", "never gets"),
    ("a,,b", "expected"), ("@/no/such/file.txt", "cannot read"),
])
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(BatchError, match=words):
        parse_spec(spec)
    with pytest.raises(BatchError, match="NODE.FIELD=SPEC"):
        parse_sweep("seed=1..3")


def test_product_and_zip():
    sweeps = [("A.x", [1, 2]), ("B.y", ["p", "q", "r"])]
    jobs = combine(sweeps)
    assert len(jobs) == 6
    assert jobs[0] == {"A.x": 1, "B.y": "p"} and jobs[1] == {"A.x": 1, "B.y": "q"}
    assert jobs[-1] == {"A.x": 2, "B.y": "r"}
    zipped = combine([("A.x", [1, 2, 3]), ("B.y", ["p", "q", "r"])], zipped=True)
    assert zipped == [{"A.x": 1, "B.y": "p"}, {"A.x": 2, "B.y": "q"}, {"A.x": 3, "B.y": "r"}]
    with pytest.raises(BatchError, match="A.x has 2, B.y has 3"):
        combine(sweeps, zipped=True)
    assert combine([]) == [{}]


def test_job_files_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text('{"Noise.seed": 3, "Prompt.text": "a, b"}\n\n{"Noise.seed": 4}\n')
    assert read_job_file(jsonl) == [{"Noise.seed": 3, "Prompt.text": "a, b"}, {"Noise.seed": 4}]
    table = tmp_path / "jobs.csv"
    table.write_text('Noise.seed,Prompt.text\n3,"a, b"\n4,\n')
    assert read_job_file(table) == [{"Noise.seed": "3", "Prompt.text": "a, b"},
                                    {"Noise.seed": "4"}]
    rows = read_job_file(jsonl)
    both = expand_jobs([("Sampler.steps", [1, 2])], rows)
    assert [(j["Noise.seed"], j["Sampler.steps"]) for j in both] == [(3, 1), (3, 2), (4, 1), (4, 2)]
    jsonl.write_text('{"Noise.seed": 3}\n{"Noise.seed": \n')
    with pytest.raises(BatchError, match="line 2"):
        read_job_file(jsonl)
    jsonl.write_text('[1, 2]\n')
    with pytest.raises(BatchError, match="line 1"):
        read_job_file(jsonl)


# -- running -------------------------------------------------------------------------


@pytest.fixture()
def toy():
    """loader -> noise + stepper -> writer; counts calls so caching is visible."""
    registry = Registry()
    calls: Counter[str] = Counter()
    control: dict = {}

    @node("toy.loader", title="Loader", category="toy", registry=registry,
          inputs=[String("name", "m")], outputs=[Output("model", "MODEL")])
    def loader(ctx, name):
        calls["loader"] += 1
        if name == "missing":
            raise FileNotFoundError("model 'missing' not found")
        return name

    @node("sampling.noise", title="Noise Source", category="toy", registry=registry,
          inputs=[Int("seed", 0, min=0, max=1000, widget="seed")], outputs=[Output("noise", "NOISE")])
    def noise(ctx, seed):
        return seed

    @node("toy.sample", title="Sampler", category="toy", registry=registry,
          inputs=[Link("model", "MODEL"), Link("noise", "NOISE"), Int("steps", 2, min=1)],
          outputs=[Output("image", "IMAGE")])
    def sample(ctx, model, noise, steps):
        calls["sample"] += 1
        for i in range(steps):
            ctx.progress(i + 1, steps)
        return f"{model}:{noise}:{steps}"

    @node("toy.write", title="Save", category="toy", registry=registry, is_output=True,
          inputs=[Link("image", "IMAGE"), String("filename_prefix", "out")])
    def write(ctx, image, filename_prefix):
        folder = ctx.options.output_dir
        counter = 1
        while (path := folder / f"{filename_prefix}_{counter:05d}.png").exists():
            counter += 1
        atomic_write(path, image.encode())
        ctx.wrote_file(path)

    graph = Graph()
    graph.add("toy.loader", registry=registry, node_id="1")
    graph.add("sampling.noise", registry=registry, node_id="2", title="Noise")
    graph.add("toy.sample", registry=registry, node_id="3")
    graph.add("toy.write", registry=registry, node_id="4")
    graph.connect("1", "model", "3", "model")
    graph.connect("2", "noise", "3", "noise")
    graph.connect("3", "image", "4", "image")
    return registry, graph, calls, control


def _pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_batch_runs_every_job_with_one_model_load_and_a_manifest(toy, tmp_path):
    registry, graph, calls, _ = toy
    jobs = make_jobs(graph, registry, combine([("Noise.seed", [1, 2, 3])]))
    result = BatchRunner(graph, registry, jobs, tmp_path).run()
    assert [r["status"] for r in result.records] == ["ok"] * 3 and not result.cancelled
    assert calls["loader"] == 1 and calls["sample"] == 3  # the model stayed loaded
    assert _pngs(tmp_path) == [f"job0000{i}_out_00001.png" for i in range(3)]
    assert (tmp_path / "job00002_out_00001.png").read_text() == "m:3:2"
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2]
    assert lines[1]["overrides"] == {"Noise.seed": 2} and lines[1]["seed"] == 2
    assert lines[1]["files"] == ["job00001_out_00001.png"] and lines[1]["error"] is None
    assert lines[1]["seconds"] >= 0


def test_unknown_keys_are_refused_before_running(toy, tmp_path):
    registry, graph, _, _ = toy
    with pytest.raises(BatchError, match="'Nobody.seed'.*no node") as info:
        make_jobs(graph, registry, [{"Nobody.seed": 1, "Noise.colour": 2}])
    assert "has no field 'colour'" in str(info.value)


def test_failed_jobs_are_recorded_and_the_batch_goes_on(toy, tmp_path):
    registry, graph, _, _ = toy
    rows = [{"Noise.seed": 1}, {"Noise.seed": 5000}, {"Loader.name": "missing"},
            {"Noise.seed": 4}]
    result = BatchRunner(graph, registry, make_jobs(graph, registry, rows), tmp_path).run()
    assert [r["status"] for r in result.records] == ["ok", "failed", "failed", "ok"]
    assert "above the maximum" in result.records[1]["error"]
    assert "'Loader' (#1) failed" in result.records[2]["error"]
    assert "not found" in result.records[2]["error"]
    assert _pngs(tmp_path) == ["job00000_out_00001.png", "job00003_out_00001.png"]
    assert len(result.failed) == 2 and len(result.ok) == 2


def test_resume_after_cancel_skips_done_jobs_without_duplicates(toy, tmp_path):
    registry, graph, calls, _ = toy
    jobs = make_jobs(graph, registry, combine([("Noise.seed", [1, 2, 3, 4, 5])]))
    cancel = CancelToken()

    def cancel_in_job_2(event):
        if isinstance(event, StepProgress) and seen[-1] == 2:
            cancel.cancel()

    seen: list[int] = []
    first = BatchRunner(graph, registry, jobs, tmp_path).run(
        cancel, [cancel_in_job_2], on_job_start=lambda job: seen.append(job.index))
    assert first.cancelled and [r["status"] for r in first.records] == ["ok", "ok", "cancelled"]
    assert _pngs(tmp_path) == ["job00000_out_00001.png", "job00001_out_00001.png"]

    second = BatchRunner(graph, registry, jobs, tmp_path).run()
    assert second.skipped == [0, 1] and [r["index"] for r in second.records] == [2, 3, 4]
    assert _pngs(tmp_path) == [f"job0000{i}_out_00001.png" for i in range(5)]
    latest = Manifest(tmp_path).load()
    assert sorted(latest) == [0, 1, 2, 3, 4]
    assert all(r["status"] == "ok" for r in latest.values())

    third = BatchRunner(graph, registry, jobs, tmp_path).run()
    assert third.records == [] and third.skipped == [0, 1, 2, 3, 4]
    assert len(_pngs(tmp_path)) == 5


def test_a_job_cut_off_mid_write_is_redone_replacing_its_leftovers(toy, tmp_path):
    registry, graph, _, _ = toy
    jobs = make_jobs(graph, registry, combine([("Noise.seed", [1, 2, 3])]))
    BatchRunner(graph, registry, jobs[:2], tmp_path).run()
    # a crash during job 2: an image written but no record, a temp file, a torn manifest line
    (tmp_path / "job00002_out_00001.png").write_text("stale")
    (tmp_path / ".job00002_out_00002.png.abc.tmp").write_text("half")
    with open(tmp_path / "manifest.jsonl", "a") as handle:
        handle.write('{"index": 2, "key": "')
    result = BatchRunner(graph, registry, jobs, tmp_path).run()
    assert result.skipped == [0, 1] and [r["index"] for r in result.records] == [2]
    assert _pngs(tmp_path) == [f"job0000{i}_out_00001.png" for i in range(3)]
    assert (tmp_path / "job00002_out_00001.png").read_text() == "m:3:2"
    assert not list(tmp_path.glob(".*.tmp"))
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1, 2]


def test_a_folder_of_another_batch_is_refused(toy, tmp_path):
    registry, graph, _, _ = toy
    BatchRunner(graph, registry, make_jobs(graph, registry, [{"Noise.seed": 1}]), tmp_path).run()
    other = make_jobs(graph, registry, [{"Noise.seed": 9}])
    with pytest.raises(BatchError, match="different batch"):
        BatchRunner(graph, registry, other, tmp_path).run()
    assert _pngs(tmp_path) == ["job00000_out_00001.png"]
