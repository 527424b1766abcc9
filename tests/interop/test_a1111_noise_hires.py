"""A1111 infotexts: ENSD becomes the Noise Source's step seed delta, RNG is noted where we
differ, and ``Hires prompt`` / ``Hires negative prompt`` get text encodes of their own."""

from __future__ import annotations

import pytest

from app.engine.validation import validate
from app.interop.a1111 import graph_from_parameters, parse_parameters

HIRES = (
    "a castle on a hill, <lora:detail:0.5>\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15, "
    "Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent, "
    'Hires prompt: "a castle on a hill, intricate stonework,\\nsharp focus, <lora:detail:0.5>", '
    'Hires negative prompt: "blurry, lowres", ENSD: 31337, Version: v1.10.1'
)


def _by_title(graph):
    return {n.title: n for n in graph.nodes.values()}


def test_hires_prompts_get_their_own_encodes_on_the_same_clip(registry):
    graph = graph_from_parameters(HIRES, registry)
    nodes, incoming = _by_title(graph), graph.incoming
    hires = nodes["Hires Sampler"]
    positive, negative = nodes["Hires prompt"], nodes["Hires negative prompt"]
    assert positive.values["text"] == "a castle on a hill, intricate stonework,\nsharp focus"
    assert negative.values["text"] == "blurry, lowres"
    assert incoming(hires.id)["positive"].source == positive.id
    assert incoming(hires.id)["negative"].source == negative.id
    # the first pass keeps its prompts; both passes' encodes read the CLIP after the LoRA
    assert incoming("6")["positive"].source == "2" and incoming("6")["negative"].source == "3"
    lora = nodes["LoRA detail"].id
    assert {incoming(n)["clip"].source for n in ("2", "3", positive.id, negative.id)} == {lora}
    notes = graph.metadata["a1111"]["notes"]
    assert not any("Hires" in n for n in notes), notes  # same LoRA tags: nothing to say
    assert graph.nodes["5"].values["step_seed_delta"] == 31337
    assert validate(graph, registry) == []


def test_a_hires_prompt_equal_to_the_prompt_adds_nothing_and_other_loras_are_noted(registry):
    same = HIRES.replace("intricate stonework,\\nsharp focus, ", "")
    graph = graph_from_parameters(same, registry)
    nodes = _by_title(graph)
    assert "Hires prompt" not in nodes and "Hires negative prompt" in nodes
    other = graph_from_parameters(HIRES.replace("<lora:detail:0.5>\"", "<lora:film:1>\""),
                                  registry)
    assert any("Hires prompt: its LoRA tags (film)" in n
               for n in other.metadata["a1111"]["notes"])


def test_quoted_values_are_unquoted_as_json_and_broken_quotes_still_open():
    settings = parse_parameters('a\nSteps: 2, Hires prompt: "x, \\"y\\"\\nz \\u00e9"')["settings"]
    assert settings["Hires prompt"] == 'x, "y"\nz \u00e9'
    lone = parse_parameters('a\nSteps: 2, Hires prompt: "a, \\ud800"')["settings"]
    assert lone["Hires prompt"] == "a, \\ud800"  # kept as written, never a lone surrogate


@pytest.mark.parametrize(("sampler", "ensd", "delta"), [
    ("Euler a", "31337", 31337), ("DPM2 a", "1", 1), ("DPM++ 2S a", "31337", 31337),
    ("DPM++ 2M SDE", "31337", 0),  # A1111 seeds its Brownian noise from the seed alone
    ("Euler a", "0", 0),
])
def test_ensd_sets_the_step_seed_delta_where_a1111_uses_it(registry, sampler, ensd, delta):
    text = f"a cat\nSteps: 20, Sampler: {sampler}, Seed: 7, Size: 64x64, ENSD: {ensd}"
    graph = graph_from_parameters(text, registry)
    assert graph.nodes["5"].values.get("step_seed_delta", 0) == delta
    assert not any("ENSD" in n for n in graph.metadata["a1111"]["notes"])


def test_bad_ensd_and_a_gpu_rng_are_noted(registry):
    graph = graph_from_parameters("a\nSteps: 2, Sampler: Euler a, ENSD: lots, RNG: NV", registry)
    notes = graph.metadata["a1111"]["notes"]
    assert "ENSD 'lots' not understood; ignored" in notes
    assert any(n.startswith("RNG 'NV': A1111 drew the noise with its NV generator") for n in notes)
    cpu = graph_from_parameters("a\nSteps: 2, Sampler: Euler a, RNG: CPU", registry)
    assert cpu.metadata["a1111"]["notes"] == []


def test_a1111_unipc_is_the_bh1_variant(registry):
    graph = graph_from_parameters("a\nSteps: 20, Sampler: UniPC, Seed: 1", registry)
    assert graph.nodes["6"].values["sampler"] == "unipc_bh1"
    assert graph.metadata["a1111"]["notes"] == []
