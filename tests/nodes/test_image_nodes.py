from __future__ import annotations

import numpy as np
from PIL import Image

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions


def test_load_upscale_save_and_preview(registry, tmp_path):
    source = tmp_path / "in.png"
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:5, :, 3] = 0  # top half transparent
    Image.fromarray(rgba, "RGBA").save(source)
    g = Graph()
    g.add("image.load", registry=registry, node_id="1", values={"path": str(source)})
    g.add("image.upscale", registry=registry, node_id="2",
          values={"factor": 0.0, "width": 24, "height": 0, "method": "bicubic"})
    g.add("image.save", registry=registry, node_id="3")
    g.add("image.preview", registry=registry, node_id="4")
    g.connect("1", "image", "2", "image")
    g.connect("2", "image", "3", "image")
    g.connect("1", "image", "4", "image")
    shown = []
    result = Executor(registry).run(
        g, options=RunOptions(output_dir=tmp_path / "out"),
        listeners=[lambda e: shown.append(e) if getattr(e, "kind", None) == "image" else None],
    )
    assert result.status == "ok", result.error
    assert Image.open(result.files[0]).size == (24, 20)  # aspect kept
    assert len(shown) == 1 and shown[0].image.size == (12, 10)


def test_load_image_mask_is_one_where_transparent(registry, tmp_path):
    from nodes._images import load

    rgba = np.full((4, 4, 4), 255, dtype=np.uint8)
    rgba[0, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    image, mask = load(str(tmp_path / "m.png"))
    assert image.shape == (1, 4, 4, 3) and mask.shape == (1, 4, 4)
    assert mask[0, 0].tolist() == [1.0] * 4 and mask[0, 1].tolist() == [0.0] * 4


def test_bad_image_file_fails_with_its_name(registry, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    g = Graph()
    g.add("image.load", registry=registry, node_id="1", values={"path": str(bad)})
    g.add("image.preview", registry=registry, node_id="2")
    g.connect("1", "image", "2", "image")
    result = Executor(registry).run(g, options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed" and "broken.png" in result.error


def test_upscale_with_model_nodes_report_tile_progress(registry, tmp_path):
    from safetensors.torch import save_file

    from node_api.events import StepProgress
    from pipelines.loading.upscalers import SRVGGNetCompact

    save_file(SRVGGNetCompact(nf=4, num_conv=1, scale=4).state_dict(), tmp_path / "x4.safetensors")
    Image.fromarray(np.full((16, 24, 3), 90, dtype=np.uint8)).save(tmp_path / "in.png")
    g = Graph()
    g.add("upscale.load_model", registry=registry, node_id="1",
          values={"model": str(tmp_path / "x4.safetensors")})
    g.add("image.load", registry=registry, node_id="2", values={"path": str(tmp_path / "in.png")})
    g.add("upscale.with_model", registry=registry, node_id="3", values={"tile": 8, "overlap": 4})
    g.add("image.save", registry=registry, node_id="4")
    g.connect("1", "upscale_model", "3", "upscale_model")
    g.connect("2", "image", "3", "image")
    g.connect("3", "image", "4", "image")
    events: list = []
    result = Executor(registry).run(g, options=RunOptions(output_dir=tmp_path / "out"),
                                    listeners=[events.append])
    assert result.status == "ok", result.error
    assert Image.open(result.files[0]).size == (96, 64)
    assert [e.step for e in events if isinstance(e, StepProgress)] == [1, 2, 3, 4, 5, 6]
