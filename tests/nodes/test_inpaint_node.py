"""VAE Encode (for Inpainting) drives full graph runs: an inpainting model (9-channel UNet)
samples like diffusers' inpaint pipeline, and an ordinary model keeps the unmasked area."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions
from tests.nodes.conftest import txt2img_graph

SIZE = 32


@pytest.fixture(scope="module")
def inpaint_checkpoint(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd-inpaint", inpainting=True)


@pytest.fixture()
def picture(tmp_path) -> Path:
    """A random RGBA PNG whose transparent rectangle (edges inside latent cells) is the mask."""
    from PIL import Image

    rgba = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[5:21, 9:27, 3] = 0
    path = tmp_path / "picture.png"
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def _inpaint_graph(registry, checkpoint: Path, picture: Path, grow: int, steps: int = 3) -> Graph:
    """txt2img with the Empty Latent replaced by Load Image -> VAE Encode (for Inpainting)."""
    g = txt2img_graph(registry, checkpoint, steps=steps, size=SIZE)
    g.add("image.load", registry=registry, node_id="20", values={"path": str(picture)})
    g.add("vae.encode_inpaint", registry=registry, node_id="21", values={"grow_mask_by": grow})
    for edge in [("20", "image", "21", "image"), ("20", "mask", "21", "mask"),
                 ("1", "vae", "21", "vae"), ("21", "latent", "6", "latent")]:
        g.connect(*edge)
    g.remove("4")
    return g


def _run(registry, graph: Graph, targets: list[str], tmp_path: Path):
    result = Executor(registry).run(graph, targets=targets,
                                    options=RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "ok", result.error
    return result


def test_inpainting_model_graph_matches_inpaint_pipeline(registry, inpaint_checkpoint, picture,
                                                         tmp_path):
    from diffusers import StableDiffusionInpaintPipeline

    from pipelines.sampling.samplers import make_scheduler

    g = _inpaint_graph(registry, inpaint_checkpoint, picture, grow=0)
    result = _run(registry, g, ["1", "20", "21", "6", "8"], tmp_path)
    encoded, sampled = result.outputs["21"][0], result.outputs["6"][0]
    mask = result.outputs["20"][1]
    assert torch.equal(encoded.noise_mask, mask)  # grow 0: the PNG's transparency, unchanged
    assert list((tmp_path / "out").glob("*.png"))

    pipe = StableDiffusionInpaintPipeline.from_pretrained(
        inpaint_checkpoint, local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler("euler", "normal", result.outputs["1"][0].scheduler_config)
    reference = pipe(
        "a red circle", negative_prompt="", image=encoded.samples.clone(),
        mask_image=mask[:, None].clone(), masked_image_latents=encoded.masked_image_latents.clone(),
        height=SIZE, width=SIZE, num_inference_steps=3, guidance_scale=7.5,
        generator=torch.Generator("cpu").manual_seed(7), output_type="latent",
    ).images
    assert (sampled.samples - reference).abs().max().item() <= 1e-5
    assert (sampled.samples - encoded.samples).abs().mean() > 0.05


def test_ordinary_model_keeps_what_the_grown_mask_keeps(registry, tiny_checkpoint, picture,
                                                        tmp_path):
    import torch.nn.functional as F

    g = _inpaint_graph(registry, tiny_checkpoint, picture, grow=6)
    result = _run(registry, g, ["20", "21", "6"], tmp_path)
    encoded, sampled = result.outputs["21"][0], result.outputs["6"][0]
    assert encoded.noise_mask.sum() > result.outputs["20"][1].sum()  # grown by 6 pixels
    cells = F.interpolate(encoded.noise_mask[:, None], size=sampled.samples.shape[-2:],
                          mode="bilinear", align_corners=False)
    keep = (cells == 0).expand_as(sampled.samples)
    assert keep.any() and (~keep).any()
    assert torch.equal(sampled.samples[keep], encoded.samples[keep])
    assert (sampled.samples - encoded.samples).abs()[~keep].mean() > 0.05


def test_inpainting_model_with_an_empty_latent_names_the_node(registry, inpaint_checkpoint,
                                                              tmp_path):
    g = txt2img_graph(registry, inpaint_checkpoint, steps=2, size=SIZE)
    result = Executor(registry).run(g, options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed"
    assert "VAE Encode (for Inpainting)" in result.error


def test_masked_image_survives_noise_mask_and_upscale(registry, inpaint_checkpoint, picture,
                                                      tmp_path):
    """Set Latent Noise Mask and Latent Upscale keep the masked image: a second inpainting
    pass at twice the size still runs (the sampler resizes mask and masked image)."""
    g = _inpaint_graph(registry, inpaint_checkpoint, picture, grow=0)
    g.add("latent.set_noise_mask", registry=registry, node_id="30", values={"grow": 2.0})
    g.add("latent.upscale", registry=registry, node_id="31", values={"factor": 2.0})
    g.add("sampling.sampler", registry=registry, node_id="32",
          values={"steps": 2, "cfg": 7.5, "denoise": 0.5})
    for edge in [("21", "latent", "30", "latent"), ("20", "mask", "30", "mask"),
                 ("30", "latent", "31", "latent"), ("31", "latent", "32", "latent"),
                 ("1", "model", "32", "model"), ("2", "conditioning", "32", "positive"),
                 ("3", "conditioning", "32", "negative"), ("5", "noise", "32", "noise")]:
        g.connect(*edge)
    result = _run(registry, g, ["21", "30", "31", "32"], tmp_path)
    encoded = result.outputs["21"][0]
    for node_id in ("30", "31", "32"):
        assert result.outputs[node_id][0].masked_image_latents is encoded.masked_image_latents
    assert result.outputs["30"][0].noise_mask.sum() > encoded.noise_mask.sum()
    assert result.outputs["32"][0].samples.shape[-1] == 2 * encoded.samples.shape[-1]
