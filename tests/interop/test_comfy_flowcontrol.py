"""ComfyUI SD3 and Flux ControlNet workflows: ControlNetApplySD3 ("Apply Controlnet with VAE")
and ControlNetApplyAdvanced with a VAE open as our Apply ControlNet, export back as
ControlNetApplyAdvanced, and run on tiny SD3 / Flux models with tiny ControlNets (a Flux Union
net told its type by SetUnionControlNetType)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.engine.executor import Executor
from app.engine.registry import default_registry
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from node_api.context import RunOptions


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def sd3_api() -> dict:
    """An SD3.5 ControlNet workflow as ComfyUI's "Save (API)" writes it."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_large"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "a cat"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "blurry"}},
        "10": {"class_type": "ControlNetLoader",
               "inputs": {"control_net_name": "sd3.5_large_controlnet_canny.safetensors"}},
        "11": {"class_type": "LoadImage", "inputs": {"image": "edges.png", "upload": "image"}},
        "12": {"class_type": "ControlNetApplySD3",
               "inputs": {"positive": ["6", 0], "negative": ["7", 0], "control_net": ["10", 0],
                          "vae": ["4", 2], "image": ["11", 0], "strength": 0.7,
                          "start_percent": 0.0, "end_percent": 0.8}},
        "5": {"class_type": "EmptySD3LatentImage",
              "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "3": {"class_type": "KSampler",
              "inputs": {"model": ["4", 0], "positive": ["12", 0], "negative": ["12", 1],
                         "latent_image": ["5", 0], "seed": 1, "steps": 20, "cfg": 4.5,
                         "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }


def flux_api() -> dict:
    """A Flux Union ControlNet workflow (ControlNetApplyAdvanced with the VAE, cfg 1)."""
    doc = sd3_api()
    doc["4"]["inputs"]["ckpt_name"] = "flux1-dev"
    doc["10"]["inputs"]["control_net_name"] = "FLUX.1-dev-ControlNet-Union-Pro.safetensors"
    doc["13"] = {"class_type": "SetUnionControlNetType",
                 "inputs": {"control_net": ["10", 0], "type": "depth"}}
    doc["12"]["class_type"] = "ControlNetApplyAdvanced"
    doc["12"]["inputs"]["control_net"] = ["13", 0]
    doc["3"]["inputs"]["cfg"] = 1.0
    return doc


def _apply(graph):
    return next(n for n in graph.nodes.values() if n.type == "conditioning.apply_controlnet")


def test_apply_controlnet_sd3_opens_with_its_vae_and_exports_as_advanced(registry):
    graph = load_comfy(sd3_api(), "sd3_cn.json", registry)
    assert validate(graph, registry) == []
    apply = _apply(graph)
    assert apply.values == {"strength": 0.7, "start_percent": 0.0, "end_percent": 0.8,
                            "guess_mode": False}
    incoming = graph.incoming(apply.id)
    assert incoming["vae"].source == "4" and incoming["control_net"].source == "10"
    prompt = to_comfy_api(graph, registry)
    assert prompt["12"]["class_type"] == "ControlNetApplyAdvanced"
    assert prompt["12"]["inputs"]["vae"] == ["4", 2]
    assert prompt["12"]["inputs"]["strength"] == 0.7


def _hint(path: Path, size: int) -> Path:
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _run(registry, doc, checkpoint, controlnet, hint, out):
    graph = load_comfy(doc, "cn.json", registry)
    for node in graph.nodes.values():
        node.values.update({"loaders.checkpoint": {"checkpoint": str(checkpoint)},
                            "loaders.controlnet": {"control_net": str(controlnet)},
                            "image.load": {"path": str(hint)},
                            "latent.empty": {"width": 32, "height": 32},
                            "sampling.sampler": {"steps": 2}}.get(node.type, {}))
    result = Executor(registry).run(graph, options=RunOptions(output_dir=out))
    assert result.status == "ok", result.error
    assert len(result.files) == 1 and Path(result.files[0]).is_file()
    return np.asarray(Image.open(result.files[0]), dtype=np.int16)


def test_sd3_and_flux_controlnet_workflows_run_on_tiny_models(registry, tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux
    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder
    from pipelines.testing.tiny_transformer_control import (
        build_tiny_flux_controlnet,
        build_tiny_sd3_controlnet,
        write_controlnet_file,
    )

    root = tmp_path_factory.mktemp("comfy-flowcontrol")
    hint = _hint(root / "edges.png", 32)
    sd3 = build_tiny_sd3_folder(root / "sd3", "sd3_control")
    sd3_net = write_controlnet_file(build_tiny_sd3_controlnet(sd3, root / "sd3-cn", "sd35"),
                                    root / "sd3.5_large_controlnet_canny.safetensors", "sd35")
    steered = _run(registry, sd3_api(), sd3, sd3_net, hint, root / "sd3-out")
    doc = sd3_api()
    doc["12"]["inputs"]["strength"] = 0.0  # strength 0: no control
    assert np.abs(steered - _run(registry, doc, sd3, sd3_net, hint, root / "sd3-off")).max() > 0

    flux = build_tiny_flux(root / "flux", "dev")
    union = build_tiny_flux_controlnet(flux, root / "flux-union", modes=10)
    depth = _run(registry, flux_api(), flux, union, hint, root / "flux-out")
    doc = flux_api()
    doc["13"]["inputs"]["type"] = "openpose"  # another Union mode, another image
    assert np.abs(depth - _run(registry, doc, flux, union, hint, root / "flux-pose")).max() > 0

    # without the VAE a latent-hint ControlNet is refused naming the node's field
    del doc["12"]["inputs"]["vae"]
    graph = load_comfy(doc, "cn.json", registry)
    for node in graph.nodes.values():
        node.values.update({"loaders.checkpoint": {"checkpoint": str(flux)},
                            "loaders.controlnet": {"control_net": str(union)},
                            "image.load": {"path": str(hint)}}.get(node.type, {}))
    result = Executor(registry).run(graph, options=RunOptions(output_dir=root / "no-vae"))
    assert result.status == "failed" and "vae" in str(result.error), result.error
