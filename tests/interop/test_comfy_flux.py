"""A ComfyUI Flux workflow (CLIPTextEncodeFlux, FluxGuidance, ModelSamplingFlux) maps onto
our nodes and exports back to the same classes and widget values."""

from __future__ import annotations

from app.engine.registry import default_registry
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api

FLUX_API = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev"}},
    "6": {"class_type": "CLIPTextEncodeFlux",
          "inputs": {"clip": ["4", 1], "clip_l": "a cat", "t5xxl": "a cat on a mat",
                     "guidance": 3.5}},
    "26": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": 2.5}},
    "30": {"class_type": "ModelSamplingFlux",
           "inputs": {"model": ["4", 0], "max_shift": 1.15, "base_shift": 0.5, "width": 1024,
                      "height": 1024}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024,
                                                       "batch_size": 1}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": ""}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["30", 0], "positive": ["26", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0], "seed": 1, "steps": 20, "cfg": 1.0,
                     "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "flux"}},
}


def test_flux_api_workflow_maps_and_exports_back():
    registry = default_registry()
    graph = load_comfy(FLUX_API, "flux_api.json", registry)
    types = {node.type for node in graph.nodes.values()}
    assert {"conditioning.text_encode_flux", "conditioning.flux_guidance",
            "model.sampling_flux"} <= types
    back = to_comfy_api(graph, registry)
    by_class = {v["class_type"]: v["inputs"] for v in back.values()}
    assert by_class["FluxGuidance"]["guidance"] == 2.5
    assert by_class["CLIPTextEncodeFlux"]["t5xxl"] == "a cat on a mat"
    assert by_class["ModelSamplingFlux"]["max_shift"] == 1.15
    assert by_class["ModelSamplingFlux"]["width"] == 1024


def test_flux_ui_workflow_maps():
    """The UI form: ComfyUI's default graph made Flux (CLIPTextEncodeFlux -> FluxGuidance ->
    KSampler, ModelSamplingFlux on the model path)."""
    from tests.interop import comfy_docs

    doc = comfy_docs.ui()
    nodes = {n["id"]: n for n in doc["nodes"]}
    nodes[6]["type"] = "CLIPTextEncodeFlux"
    nodes[6]["widgets_values"] = ["a cat", "a cat on a mat", 3.5]
    nodes[6]["outputs"][0]["links"] = [13]
    guidance = dict(nodes[8], id=12, type="FluxGuidance", pos=[600, 100],
                    inputs=[{"name": "conditioning", "type": "CONDITIONING", "link": 13}],
                    outputs=[{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4],
                              "slot_index": 0}], widgets_values=[2.5])
    sampling = dict(nodes[8], id=13, type="ModelSamplingFlux", pos=[700, 300],
                    inputs=[{"name": "model", "type": "MODEL", "link": 11}],
                    outputs=[{"name": "MODEL", "type": "MODEL", "links": [14],
                              "slot_index": 0}], widgets_values=[1.15, 0.5, 768, 1024])
    doc["nodes"] += [guidance, sampling]
    nodes[3]["inputs"][0]["link"] = 14
    for link in doc["links"]:
        if link[0] == 4:
            link[1] = 12
        if link[0] == 11:
            link[3], link[4] = 13, 0
    doc["links"] += [[13, 6, 0, 12, 0, "CONDITIONING"], [14, 13, 0, 3, 0, "MODEL"]]
    doc["last_node_id"], doc["last_link_id"] = 13, 14
    graph = load_comfy(doc, "flux_ui.json", default_registry())
    by_type = {n.type: n.values for n in graph.nodes.values()}
    assert by_type["conditioning.text_encode_flux"] == {
        "clip_l": "a cat", "t5xxl": "a cat on a mat", "guidance": 3.5}
    assert by_type["conditioning.flux_guidance"] == {"guidance": 2.5}
    assert by_type["model.sampling_flux"] == {"max_shift": 1.15, "base_shift": 0.5,
                                              "width": 768, "height": 1024}
