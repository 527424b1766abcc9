"""Inpaint Model Conditioning (ComfyUI's InpaintModelConditioning) on our inpainting path: where
its settings coincide with VAE Encode (for Inpainting) (a binary mask, no growing, a size of
whole VAE cells) the sampled latent is the same; the masked image is greyed with ComfyUI's
arithmetic; noise_mask off repaints everything while inpainting models still see the mask."""

from __future__ import annotations

from pathlib import Path

import torch

from app.engine.graph import Graph
from tests.nodes.test_inpaint_node import _inpaint_graph, _run, inpaint_checkpoint, picture

__all__ = ["inpaint_checkpoint", "picture"]  # fixtures shared with the VAE-inpaint tests


def _conditioning_graph(registry, checkpoint: Path, image: Path, noise_mask: bool) -> Graph:
    """The inpainting graph with Inpaint Model Conditioning in place of the encoder node."""
    g = _inpaint_graph(registry, checkpoint, image, grow=0)
    g.remove("21")
    g.add("conditioning.inpaint_model", registry=registry, node_id="22",
          values={"noise_mask": noise_mask})
    for edge in [("2", "conditioning", "22", "positive"), ("3", "conditioning", "22", "negative"),
                 ("1", "vae", "22", "vae"), ("20", "image", "22", "image"),
                 ("20", "mask", "22", "mask"), ("22", "positive", "6", "positive"),
                 ("22", "negative", "6", "negative"), ("22", "latent", "6", "latent")]:
        g.connect(*edge)
    return g


def test_same_latent_as_vae_encode_for_inpainting(registry, inpaint_checkpoint, picture,
                                                  tmp_path):
    plain = _run(registry, _inpaint_graph(registry, inpaint_checkpoint, picture, grow=0),
                 ["21", "6"], tmp_path)
    ours = _run(registry, _conditioning_graph(registry, inpaint_checkpoint, picture, True),
                ["20", "22", "6"], tmp_path)
    encoded, latent = plain.outputs["21"][0], ours.outputs["22"][2]
    assert torch.equal(latent.samples, encoded.samples)
    assert torch.equal(latent.noise_mask[:, 0], encoded.noise_mask)
    # the greyed pixels differ only in rounding ((p - 0.5) * 1 + 0.5 is not always p)
    assert (latent.masked_image_latents - encoded.masked_image_latents).abs().max() <= 1e-5
    difference = (ours.outputs["6"][0].samples - plain.outputs["6"][0].samples).abs().max()
    assert difference <= 1e-5


def test_masked_pixels_are_greyed_as_comfyui_does(registry, inpaint_checkpoint, picture):
    from pipelines.loading.checkpoint import load_checkpoint
    from pipelines.sampling.edit_conditioning import inpaint_model_conditioning
    from pipelines.sampling.vae import encode

    _, _, vae = load_checkpoint(inpaint_checkpoint)
    image = torch.rand(1, 35, 37, 3, generator=torch.Generator().manual_seed(5))
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:6, 3:7] = 0.75  # soft and smaller than the image: resized bilinearly, rounded
    latent = inpaint_model_conditioning(vae, image, mask)
    full = torch.nn.functional.interpolate(mask[:, None], size=(35, 37), mode="bilinear")
    full = full[:, :, 0:34, 0:36]  # cropped to whole cells (of 2 pixels here)
    pixels = image[:, 0:34, 0:36].clone()
    keep = (1.0 - full.round()).squeeze(1)
    for c in range(3):
        pixels[..., c] = (pixels[..., c] - 0.5) * keep + 0.5
    assert torch.equal(latent.masked_image_latents, encode(vae, pixels).samples)
    assert torch.equal(latent.noise_mask, full) and latent.inpaint_mask is None


def test_noise_mask_off_repaints_everything(registry, inpaint_checkpoint, tiny_checkpoint,
                                            picture, tmp_path):
    on = _run(registry, _conditioning_graph(registry, tiny_checkpoint, picture, True),
              ["22", "6"], tmp_path)
    off = _run(registry, _conditioning_graph(registry, tiny_checkpoint, picture, False),
               ["22", "6"], tmp_path)
    original = on.outputs["22"][2].samples
    kept = (on.outputs["6"][0].samples == original).float().mean()
    assert kept > 0.2  # an ordinary model keeps the unmasked area with the noise mask...
    assert (off.outputs["6"][0].samples == original).float().mean() < 0.01  # ...not without
    latent = off.outputs["22"][2]
    assert latent.noise_mask is None and latent.inpaint_mask is not None
    # an inpainting model still gets the mask as input channels, and samples
    result = _run(registry, _conditioning_graph(registry, inpaint_checkpoint, picture, False),
                  ["6"], tmp_path)
    assert torch.isfinite(result.outputs["6"][0].samples).all()


def test_an_image_smaller_than_a_cell_is_one_line_naming_node_and_field(
        registry, inpaint_checkpoint, picture, tmp_path):
    from app.engine.executor import Executor
    from node_api.context import RunOptions

    g = _conditioning_graph(registry, inpaint_checkpoint, picture, True)
    g.add("image.upscale", registry=registry, node_id="40",
          values={"factor": 0.0, "width": 1, "height": 1, "method": "bilinear"})
    g.edges = [e for e in g.edges if not (e.target == "22" and e.input == "image")]
    g.connect("20", "image", "40", "image")
    g.connect("40", "image", "22", "image")
    result = Executor(registry).run(g, targets=["22"], options=RunOptions(output_dir=tmp_path))
    assert result.status == "failed" and "\n" not in result.error
    assert "Inpaint Model Conditioning" in result.error and "image" in result.error
