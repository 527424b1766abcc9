"""Forward diffusion, latent upscaling and full-VAE previews through the graph."""

from __future__ import annotations

import numpy as np
import torch

from app.engine.executor import Executor
from app.engine.graph import Graph
from node_api.context import RunOptions
from node_api.events import StepProgress


def _latent_graph(registry, checkpoint, timestep: int) -> Graph:
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1",
          values={"checkpoint": str(checkpoint)})
    g.add("latent.empty", registry=registry, node_id="2", values={"width": 64, "height": 64,
                                                                    "batch_size": 4})
    g.add("sampling.noise", registry=registry, node_id="3", values={"seed": 1})
    g.add("sampling.add_noise", registry=registry, node_id="4", values={"timestep": timestep})
    g.add("latent.upscale", registry=registry, node_id="5", values={"factor": 2.0})
    for edge in [("1", "model", "4", "model"), ("2", "latent", "4", "latent"),
                 ("3", "noise", "4", "noise"), ("4", "latent", "5", "latent")]:
        g.connect(*edge)
    return g


def test_add_noise_node_applies_the_closed_form(registry, tiny_checkpoint):
    from pipelines.sampling.forward import NoiseSchedule
    from pipelines.values import Noise

    g = _latent_graph(registry, tiny_checkpoint, 999)
    result = Executor(registry).run(g, targets=["4", "5"])
    assert result.status == "ok", result.error
    x_t = result.outputs["4"][0].samples
    model = result.outputs.get("1")
    assert model is None  # only the requested targets are returned
    # x_0 is zeros (empty latent), so x_T = sqrt(1 - alpha_bar_T) * eps exactly.
    from pipelines.loading.checkpoint import load_checkpoint

    schedule = NoiseSchedule.from_config(load_checkpoint(tiny_checkpoint)[0].scheduler_config)
    eps = Noise(seed=1).sample(tuple(x_t.shape))
    expected = (1 - schedule.alphas_cumprod[999]).sqrt() * eps
    assert torch.allclose(x_t, expected, atol=1e-6)
    # and the upscale doubled the latent grid
    assert result.outputs["5"][0].samples.shape[-2:] == tuple(2 * s for s in x_t.shape[-2:])


def test_add_noise_keeps_the_noise_mask(registry, tiny_checkpoint):
    g = _latent_graph(registry, tiny_checkpoint, 500)
    g.add("latent.set_noise_mask", registry=registry, node_id="6")
    g.add("image.load", registry=registry, node_id="7")
    g.connect("2", "latent", "6", "latent")
    g.connect("7", "mask", "6", "mask")
    g.connect("6", "latent", "4", "latent")
    import numpy as np
    from PIL import Image

    path = tiny_checkpoint.parent / "mask.png"
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[16:48, 16:48, 3] = 0  # transparent = repaint
    Image.fromarray(rgba, "RGBA").save(path)
    g.nodes["7"].values["path"] = str(path)
    result = Executor(registry).run(g, targets=["6", "4"])
    assert result.status == "ok", result.error
    masked, noised = result.outputs["6"][0], result.outputs["4"][0]
    assert masked.noise_mask is not None
    assert noised.noise_mask is masked.noise_mask


def test_full_vae_previews_every_n_steps(registry, txt2img, tmp_path):
    txt2img.connect("1", "vae", "6", "vae")
    events: list = []
    options = RunOptions(output_dir=tmp_path, preview_vae_every=2)
    result = Executor(registry).run(txt2img, options=options, listeners=[events.append])
    assert result.status == "ok", result.error
    previews = [e.preview for e in events if isinstance(e, StepProgress)]
    # steps 2 and 4 are VAE-decoded at full size (32 px), whatever the preview rate; 1 is the
    # latent approximation, and 3 too unless it came too soon after 2 (previews are throttled)
    assert [p.shape[0] for p in previews[1::2]] == [32, 32]
    assert previews[0].shape[0] < 32
    assert previews[2] is None or previews[2].shape[0] < 32
    assert all(p.dtype == np.uint8 for p in previews if p is not None)


def test_inpainting_with_a_noise_mask_keeps_the_unmasked_area(registry, txt2img, tmp_path):
    """Repaint the right half of a generated image; the left half's latent stays as it was."""
    from node_api.context import RunOptions

    g = txt2img
    g.add("vae.encode", registry=registry, node_id="20")
    g.add("image.load", registry=registry, node_id="21")
    g.add("latent.set_noise_mask", registry=registry, node_id="22")
    g.add("sampling.sampler", registry=registry, node_id="23", values={"steps": 3})
    for edge in [("7", "image", "20", "image"), ("1", "vae", "20", "vae"),
                 ("20", "latent", "22", "latent"), ("21", "mask", "22", "mask"),
                 ("22", "latent", "23", "latent"), ("1", "model", "23", "model"),
                 ("2", "conditioning", "23", "positive"), ("3", "conditioning", "23", "negative"),
                 ("5", "noise", "23", "noise")]:
        g.connect(*edge)
    from PIL import Image

    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[:, :16, 3] = 255  # opaque left half: keep; transparent right half: repaint
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    g.nodes["21"].values["path"] = str(tmp_path / "mask.png")
    result = Executor(registry).run(g, targets=["20", "23"],
                                    options=RunOptions(output_dir=tmp_path))
    assert result.status == "ok", result.error
    before = result.outputs["20"][0].samples
    after = result.outputs["23"][0].samples
    cells = before.shape[-1] // 2
    assert torch.allclose(after[..., :cells], before[..., :cells], atol=1e-6)
    assert (after[..., cells:] - before[..., cells:]).abs().mean() > 0.05
