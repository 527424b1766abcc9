"""The second built-in workflow: the demo model's 64px image taken to 128px by the shipped
demo-sr stage, offline on the CPU, equal to the same cascade run through ``pipelines``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.engine.executor import Executor
from app.engine.workflow import to_document
from app.interop.open import open_workflow as load_workflow
from node_api.context import RunOptions

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "resources" / "workflows" / "demo_cascade.json"
MODELS = ROOT / "resources" / "models"


def test_the_demo_cascade_runs_on_the_built_in_models(registry, tmp_path):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.denoise import denoise
    from pipelines.sampling.superres import pixels_to_image, super_resolve
    from pipelines.sampling.vae import decode
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    graph = load_workflow(WORKFLOW, registry)
    graph.find("Sampler (64px)").values.update(steps=4)
    graph.find("Super-Resolution (64 -> 128)").values.update(steps=3)
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    saved = np.asarray(Image.open(result.files[0]).convert("RGB")).astype(int)
    assert saved.shape == (128, 128, 3)

    model, clip, vae = load_checkpoint(MODELS / "demo")
    sr, _, _ = load_checkpoint(MODELS / "demo-sr")
    pos, neg = encode_text(clip, "a red circle on a blue background"), encode_text(clip, "")
    low = denoise(model, pos, neg, Latent(samples=torch.zeros(1, 4, 16, 16)), Noise(42),
                  sampler="euler", steps=4, cfg=2.5)
    high = super_resolve(sr, pos, neg, decode(vae, low), Noise(42), scale=2.0, noise_level=50,
                         sampler="ddim", steps=3, cfg=1.0)
    expected = (pixels_to_image(high)[0].numpy() * 255).round().astype(int)
    assert np.abs(saved - expected).max() <= 1
