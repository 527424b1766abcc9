"""End-to-end graph runs on the tiny random checkpoint, through the real nodes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow
from node_api.context import CancelToken, RunOptions
from node_api.events import StepProgress


def _run(executor, graph, tmp_path, **kw):
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph), **kw)
    events: list = []
    result = executor.run(graph, options=options, listeners=[events.append])
    return result, events


def test_graph_runs_end_to_end_and_saves_a_png_with_its_workflow(registry, txt2img, tmp_path):
    result, events = _run(Executor(registry), txt2img, tmp_path)
    assert result.status == "ok", result.error
    assert len(result.files) == 1
    png = Image.open(result.files[0])
    assert png.size == (32, 32)
    assert np.asarray(png).std() > 0  # a real decoded image, not a blank
    steps = [e for e in events if isinstance(e, StepProgress)]
    assert [s.step for s in steps] == [1, 2, 3, 4]
    # previews are throttled (~12 a second), but the first and the last step always get one
    assert steps[0].preview is not None and steps[-1].preview is not None
    assert all(s.preview.dtype == np.uint8 for s in steps if s.preview is not None)
    assert json.loads(png.text["workflow"])["nodes"]
    assert "a red circle" in png.text["parameters"] and "Seed: 7" in png.text["parameters"]
    # Opening the PNG as a workflow restores the graph.
    assert open_workflow(result.files[0], registry) == txt2img


def test_changing_only_the_seed_reruns_only_noise_sampler_and_after(registry, txt2img, tmp_path):
    executor = Executor(registry)
    first, _ = _run(executor, txt2img, tmp_path)
    txt2img.nodes["5"].values["seed"] = 8
    second, _ = _run(executor, txt2img, tmp_path)
    assert set(second.executed) == {"5", "6", "7", "8"}
    assert {"1", "2", "3", "4"} <= set(second.cached)
    a, b = (np.asarray(Image.open(r.files[0]), dtype=float) for r in (first, second))
    assert np.abs(a - b).max() > 0  # another seed, another image


def test_same_seed_gives_the_same_image(registry, txt2img, tmp_path):
    first, _ = _run(Executor(registry), txt2img, tmp_path / "a")
    second, _ = _run(Executor(registry), txt2img, tmp_path / "b")
    a, b = (np.asarray(Image.open(r.files[0])) for r in (first, second))
    assert np.array_equal(a, b)


def test_cancel_during_sampling_stops_within_a_step(registry, txt2img, tmp_path):
    txt2img.nodes["6"].values["steps"] = 30
    token = CancelToken()
    seen: list[int] = []

    def listener(event):
        if isinstance(event, StepProgress):
            seen.append(event.step)
            if event.step == 3:
                token.cancel()

    result = Executor(registry).run(txt2img, options=RunOptions(output_dir=tmp_path),
                                    listeners=[listener], cancel=token)
    assert result.status == "cancelled"
    assert seen == [1, 2, 3]
    assert not list(tmp_path.glob("*.png"))


def test_missing_checkpoint_fails_naming_the_node_and_the_next_run_works(
    registry, txt2img, tiny_checkpoint, tmp_path
):
    executor = Executor(registry)
    txt2img.nodes["1"].values["checkpoint"] = str(tmp_path / "nowhere")
    result, _ = _run(executor, txt2img, tmp_path)
    assert result.status == "failed"
    assert "'Load Checkpoint' (#1)" in result.error and "nowhere" in result.error
    txt2img.nodes["1"].values["checkpoint"] = str(tiny_checkpoint)
    assert _run(executor, txt2img, tmp_path)[0].status == "ok"


def test_save_image_never_overwrites(registry, txt2img, tmp_path):
    executor = Executor(registry)
    first, _ = _run(executor, txt2img, tmp_path)
    second, _ = _run(executor, txt2img, tmp_path)
    assert first.files != second.files
    assert len(list(tmp_path.glob("*.png"))) == 2


@pytest.mark.parametrize("factor", [2.0])
def test_img2img_chain_upscale_encode_and_partial_denoise(registry, txt2img, tmp_path, factor):
    g = txt2img
    g.add("image.upscale", registry=registry, node_id="9", values={"factor": factor})
    g.add("vae.encode", registry=registry, node_id="10")
    g.add("sampling.sampler", registry=registry, node_id="11", title="Refine",
          values={"steps": 4, "denoise": 0.5})
    g.add("vae.decode", registry=registry, node_id="12")
    g.add("image.save", registry=registry, node_id="13", values={"filename_prefix": "hires"})
    for edge in [("7", "image", "9", "image"), ("9", "image", "10", "image"),
                 ("1", "vae", "10", "vae"), ("10", "latent", "11", "latent"),
                 ("1", "model", "11", "model"), ("2", "conditioning", "11", "positive"),
                 ("3", "conditioning", "11", "negative"), ("5", "noise", "11", "noise"),
                 ("11", "latent", "12", "latent"), ("1", "vae", "12", "vae"),
                 ("12", "image", "13", "image")]:
        g.connect(*edge)
    result, _ = _run(Executor(registry), g, tmp_path)
    assert result.status == "ok", result.error
    sizes = sorted(Image.open(f).size for f in result.files)
    assert sizes == [(32, 32), (64, 64)]


def test_unsupported_sampler_schedule_pair_is_caught_by_validation(registry, txt2img):
    from app.engine.validation import validate

    txt2img.nodes["6"].values.update(sampler="euler_ancestral", schedule="karras")
    problems = validate(txt2img, registry)
    assert len(problems) == 1 and problems[0].field == "schedule"
    assert "euler_ancestral" in problems[0].message and "sgm_uniform" in problems[0].message
