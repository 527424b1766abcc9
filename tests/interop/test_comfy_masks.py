"""ComfyUI's mask nodes (nodes_mask.py) open onto ours, export back to the same prompt (valid
for ComfyUI), and an inpainting graph built from them runs on a tiny model."""

from __future__ import annotations

import copy
from typing import Any

import torch

from app.engine.executor import Executor
from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from tests.interop import comfy_docs
from tests.interop.comfy_validity import problems


def masks_api(checkpoint: str) -> dict[str, Any]:
    """The default graph whose latent gets a noise mask made by every mask node."""
    doc = copy.deepcopy(comfy_docs.API)
    doc["4"]["inputs"]["ckpt_name"] = checkpoint
    doc["5"]["inputs"].update(width=32, height=32)
    doc["3"]["inputs"].update(steps=2, latent_image=["30", 0])
    doc["20"] = {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 32, "height": 32}}
    doc["21"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
    doc["22"] = {"class_type": "MaskComposite", "inputs": {
        "destination": ["20", 0], "source": ["21", 0], "x": 12, "y": 12, "operation": "add"}}
    doc["23"] = {"class_type": "GrowMask", "inputs": {
        "mask": ["22", 0], "expand": 2, "tapered_corners": True}}
    doc["24"] = {"class_type": "FeatherMask", "inputs": {
        "mask": ["23", 0], "left": 1, "top": 1, "right": 1, "bottom": 1}}
    doc["25"] = {"class_type": "InvertMask", "inputs": {"mask": ["24", 0]}}
    doc["26"] = {"class_type": "InvertMask", "inputs": {"mask": ["25", 0]}}
    doc["27"] = {"class_type": "MaskToImage", "inputs": {"mask": ["26", 0]}}
    doc["28"] = {"class_type": "ImageToMask", "inputs": {"image": ["27", 0], "channel": "red"}}
    doc["29"] = {"class_type": "ThresholdMask", "inputs": {"mask": ["28", 0], "value": 0.5}}
    doc["31"] = {"class_type": "CropMask", "inputs": {
        "mask": ["29", 0], "x": 0, "y": 0, "width": 32, "height": 32}}
    doc["30"] = {"class_type": "SetLatentNoiseMask", "inputs": {
        "samples": ["5", 0], "mask": ["31", 0]}}
    return doc


def test_mask_nodes_both_ways(registry):
    doc = masks_api("model.safetensors")
    graph = load_comfy(doc, "masks.json", registry)
    assert graph.nodes["23"].type == "mask.grow"
    assert graph.nodes["23"].values == {"expand": 2, "tapered_corners": True}
    assert graph.nodes["22"].values == {"x": 12, "y": 12, "operation": "add"}
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    for node_id in map(str, range(20, 32)):
        assert prompt[node_id]["class_type"] == doc[node_id]["class_type"], node_id
        assert prompt[node_id]["inputs"] == doc[node_id]["inputs"], node_id
    assert problems(prompt) == []


def test_the_mask_graph_runs(registry, tiny_sd_checkpoint):
    graph = load_comfy(masks_api(str(tiny_sd_checkpoint)), "masks.json", registry)
    result = Executor(registry).run(graph, targets=["31", "3"])
    assert result.status == "ok", result.error
    mask = result.outputs["31"][0]
    expected = torch.zeros(1, 32, 32)
    expected[:, 12:20, 10:22] = 1  # the 8x8 square grown by 2 as a cross, twice
    expected[:, 10:22, 12:20] = 1
    expected[:, 11:21, 11:21] = 1
    assert torch.equal(mask, expected)
    latent = result.outputs["3"][0]
    assert latent.samples.shape == (1, 4, 4, 4) and torch.equal(latent.noise_mask, mask)
