"""VAE Decode's tiling setting reaches the VAE: tiles give a close but not identical image."""

from __future__ import annotations

import torch

from app.engine.executor import Executor
from tests.nodes.conftest import txt2img_graph


def test_tiling_setting_changes_how_the_image_is_decoded(registry, tiny_checkpoint):
    graph = txt2img_graph(registry, tiny_checkpoint, steps=2, size=96)
    executor = Executor(registry)
    images = {}
    for tiling, tile in (("never", 0), ("always", 32), ("auto", 0)):
        graph.nodes["7"].values.update(tiling=tiling, tile_size=tile)
        result = executor.run(graph, targets=["7"])
        assert result.status == "ok", result.error
        images[tiling] = result.outputs["7"][0]
    assert images["always"].shape == images["never"].shape == (1, 96, 96, 3)
    difference = (images["always"] - images["never"]).abs()
    assert 0 < difference.mean() < 0.05
    assert torch.equal(images["auto"], images["never"])  # enough memory: no tiles
