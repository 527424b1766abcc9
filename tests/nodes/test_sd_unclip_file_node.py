"""Load unCLIP Checkpoint reads an SD 2.1 unCLIP single file (the original layout) and the
shipped variation workflow gives the same picture as from the diffusers folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    from pipelines.testing.tiny_sd_unclip_file import build_tiny_sd_unclip_file

    return build_tiny_sd_unclip_file(tmp_path_factory.mktemp("sd-unclip-file-node"))


def test_load_unclip_checkpoint_node_reads_the_single_file(registry, built, tmp_path):
    from app.engine.executor import Executor
    from app.engine.workflow import to_document
    from app.interop.open import open_workflow
    from node_api.context import RunOptions

    workflow = Path(__file__).resolve().parents[2] / "resources" / "workflows" / (
        "sd21_unclip_variations.json")
    picture = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
                    ).save(picture)
    # the folder's networks as the cache will hand them to the nodes, with fresh copies of
    # their weights (values untouched): diffusers' folder loader leaves tensors unaligned in
    # the file's buffer, and CPU kernels then round differently (test_single_file.py)
    from pipelines.loading.cached import load_checkpoint_cached, load_clip_vision_cached

    model, clip, vae = load_checkpoint_cached(built[0])
    for net in (model.denoiser, vae.vae, clip.text_encoder,
                load_clip_vision_cached(built[0]).image_encoder):
        for param in net.parameters():
            param.data = param.data.clone()
    images = []
    for checkpoint in built[::-1]:  # the file, then the folder
        graph = open_workflow(workflow, registry)
        for node in graph.nodes.values():
            node.values.update({"loaders.unclip_checkpoint": {"checkpoint": str(checkpoint)},
                                "image.load": {"path": str(picture)},
                                "latent.empty": {"width": 32, "height": 32},
                                "sampling.sampler": {"steps": 2}}.get(node.type, {}))
        out = tmp_path / str(len(images))
        result = Executor(registry).run(graph, options=RunOptions(
            output_dir=out, workflow=to_document(graph)))
        assert result.status == "ok", result.error
        images.append(np.asarray(Image.open(result.files[0])).astype(int))
    assert np.array_equal(images[0], images[1])
