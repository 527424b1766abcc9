"""CLIP Set Last Layer (ComfyUI's CLIPSetLastLayer) is our clip skip: layer -n of a family
reading the last layer (SD1) is clip skip n - 1; of a penultimate family (SDXL) n - 2."""

from __future__ import annotations

import dataclasses

import torch

from pipelines.text.conditioning import encode_text

PROMPT = "a red circle on a blue square"


def test_sd1_last_layer_is_clip_skip(tiny):
    _, clip, _ = tiny
    default = encode_text(clip, PROMPT)
    last = encode_text(dataclasses.replace(clip, last_layer=-1), PROMPT)
    second = encode_text(dataclasses.replace(clip, last_layer=-2), PROMPT)
    assert torch.equal(last.embeds, default.embeds)
    assert torch.equal(second.embeds, encode_text(clip, PROMPT, clip_skip=1).embeds)
    assert not torch.allclose(second.embeds, default.embeds, atol=1e-3)
    # weighted prompts take the same route
    weighted = "(a red circle:1.2) on a blue square"
    assert torch.equal(encode_text(dataclasses.replace(clip, last_layer=-2), weighted).embeds,
                       encode_text(clip, weighted, clip_skip=1).embeds)


def test_sdxl_last_layer_counts_from_its_penultimate_default(tiny_sdxl):
    _, clip, _ = tiny_sdxl
    default = encode_text(clip, PROMPT)
    penultimate = encode_text(dataclasses.replace(clip, last_layer=-2), PROMPT)
    assert torch.equal(penultimate.embeds, default.embeds)
    third = encode_text(dataclasses.replace(clip, last_layer=-3), PROMPT)
    assert torch.equal(third.embeds, encode_text(clip, PROMPT, clip_skip=1).embeds)
    assert torch.equal(third.extras["pooled"], default.extras["pooled"])  # pooled unchanged
    last = encode_text(dataclasses.replace(clip, last_layer=-1), PROMPT)
    assert not torch.allclose(last.embeds, default.embeds, atol=1e-3)


def test_the_node_sets_the_layer_text_encode_reads(tiny, tiny_dir):
    from app.engine.executor import Executor
    from app.engine.graph import Graph
    from app.engine.registry import default_registry

    registry = default_registry()
    g = Graph()
    g.add("loaders.checkpoint", registry=registry, node_id="1", values={"checkpoint": str(tiny_dir)})
    g.add("conditioning.clip_set_last_layer", registry=registry, node_id="2",
          values={"stop_at_clip_layer": -2})
    g.add("conditioning.text_encode", registry=registry, node_id="3", values={"text": PROMPT})
    g.connect("1", "clip", "2", "clip")
    g.connect("2", "clip", "3", "clip")
    result = Executor(registry).run(g, targets=["3"])
    assert result.status == "ok", result.error
    _, clip, _ = tiny
    expected = encode_text(clip, PROMPT, clip_skip=1)
    assert torch.equal(result.outputs["3"][0].embeds, expected.embeds)
