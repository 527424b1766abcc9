"""ComfyUI loaders that are ours with a setting fixed: LoraLoaderModelOnly (our Load LoRA
without a text encoder) and the old CheckpointLoader (its config name is not needed)."""

from __future__ import annotations

from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import to_comfy_api
from tests.interop import comfy_docs


def test_lora_loader_model_only_is_our_lora_on_the_model_alone(registry):
    doc = comfy_docs.api()
    doc["10"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "lora_name": "flux-style.safetensors", "strength_model": 0.85, "model": ["4", 0]},
        "_meta": {"title": "LoraLoaderModelOnly"}}
    doc["3"]["inputs"]["model"] = ["10", 0]
    graph = load_comfy(doc, "wf.json", registry)
    lora = graph.nodes["10"]
    assert (lora.type, lora.values["lora"], lora.values["strength_model"],
            lora.values["strength_clip"]) == ("loaders.lora", "flux-style.safetensors", 0.85, 0.0)
    assert set(graph.incoming("10")) == {"model"}  # no text encoder linked
    assert graph.incoming("3")["model"].source == "10"
    assert validate(graph, registry) == []
    prompt = to_comfy_api(graph, registry)
    assert prompt["10"]["class_type"] == "LoraLoaderModelOnly"
    assert prompt["10"]["inputs"] == {"lora_name": "flux-style.safetensors",
                                      "strength_model": 0.85, "model": ["4", 0]}
    assert prompt["3"]["inputs"]["model"] == ["10", 0]


def test_checkpoint_loader_with_a_config_name_loads_the_checkpoint_and_notes_the_config(
        registry):
    doc = comfy_docs.api()
    doc["4"] = {"class_type": "CheckpointLoader", "inputs": {
        "config_name": "v1-inference.yaml", "ckpt_name": "v1-5-pruned-emaonly.ckpt"}}
    graph = load_comfy(doc, "wf.json", registry)
    assert graph.nodes["4"].type == "loaders.checkpoint"
    assert graph.nodes["4"].values["checkpoint"] == "v1-5-pruned-emaonly.ckpt"
    assert graph.incoming("8")["vae"].source == "4" and graph.incoming("6")["clip"].source == "4"
    notes = graph.metadata["comfyui"]["notes"]
    assert notes == ["CheckpointLoader: config 'v1-inference.yaml' is not needed here (the "
                     "model's layout is read from the file); ignored"]
    assert validate(graph, registry) == []
