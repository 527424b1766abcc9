"""Prompt weighting syntax and long prompts (chunked) on the tiny model."""

from __future__ import annotations

import pytest
import torch

from pipelines.text.prompt_weights import ROUND, SQUARE, Span, parse


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red circle", [Span("a red circle", 1.0)]),
        ("a (red:1.5) circle", [Span("a ", 1.0), Span("red", 1.5), Span(" circle", 1.0)]),
        ("((red))", [Span("red", ROUND * ROUND)]),
        ("[blue] sky", [Span("blue", SQUARE), Span(" sky", 1.0)]),
        ("(a (b:2) c:0.5)", [Span("a ", 0.5), Span("b", 1.0), Span(" c", 0.5)]),
        (r"\(not weighted\)", [Span("(not weighted)", 1.0)]),
        ("(unclosed", [Span("unclosed", ROUND)]),
        ("ratio 16:9", [Span("ratio 16:9", 1.0)]),
    ],
)
def test_parse(prompt, expected):
    spans = parse(prompt)
    assert [s.text for s in spans] == [s.text for s in expected]
    assert [s.weight for s in spans] == pytest.approx([s.weight for s in expected])


def test_weight_one_equals_the_plain_prompt(tiny):
    from pipelines.text.conditioning import encode_text

    _, clip, _ = tiny
    plain = encode_text(clip, "a red circle").embeds
    weighted = encode_text(clip, "a (red circle:1.0)").embeds
    assert torch.allclose(plain, weighted, atol=1e-5)


def test_weight_changes_only_the_weighted_tokens(tiny):
    from pipelines.text.conditioning import encode_text

    _, clip, _ = tiny
    plain = encode_text(clip, "ab cd").embeds
    weighted = encode_text(clip, "ab (cd:1.8)").embeds
    changed = (plain - weighted).abs().amax(dim=-1)[0] > 1e-5
    tokens = clip.tokenizer("cd", add_special_tokens=False).input_ids
    start = 1 + len(clip.tokenizer("ab ", add_special_tokens=False).input_ids)
    expected = torch.zeros_like(changed)
    expected[start : start + len(tokens)] = True
    assert torch.equal(changed, expected)


def test_long_prompt_is_chunked_not_truncated(tiny):
    from pipelines.text.conditioning import encode_text

    _, clip, _ = tiny
    window = clip.tokenizer.model_max_length
    text = "x " * 160  # one token per word here: 160 tokens, 3 windows of 75
    cond = encode_text(clip, text)
    assert cond.embeds.shape[1] == 3 * window
    first = encode_text(clip, "x " * 75).embeds
    assert torch.allclose(cond.embeds[:, :window], first, atol=1e-5)
    # the tail changes what the last window encodes
    other = encode_text(clip, "x " * 150 + "y " * 10).embeds
    assert not torch.allclose(cond.embeds[:, 2 * window :], other[:, 2 * window :])


def test_sampling_with_a_long_positive_and_short_negative(tiny):
    from pipelines.sampling.denoise import denoise
    from pipelines.text.conditioning import encode_text
    from pipelines.values import Latent, Noise

    model, clip, _ = tiny
    out = denoise(model, encode_text(clip, "y" * 100), encode_text(clip, ""),
                  Latent(samples=torch.zeros(1, 4, 8, 8)), Noise(seed=1), steps=2, cfg=5.0)
    assert out.samples.shape == (1, 4, 8, 8) and torch.isfinite(out.samples).all()


@pytest.mark.parametrize(
    ("prompt", "names"),
    [
        ("(embedding:bad_hands:1.2), worst", ["bad_hands"]),
        ("embedding:sub/neg.safetensors, ugly", ["sub/neg.safetensors"]),
        ("a cat by embedding:style.", ["style"]),
        ("[embedding:a] embedding:b embedding:a", ["a", "b"]),
        ("myembedding:x, embedding: alone", []),
        (r"\(embedding:lit\)", ["lit"]),
    ],
)
def test_embedding_names(prompt, names):
    from pipelines.text.prompt_weights import embedding_names

    assert embedding_names(prompt) == names


def test_embedding_vectors_take_the_span_weight_and_stay_in_one_window(tiny):
    from pipelines.text.prompt_weights import PLACEHOLDER_ID, chunks, weighted_tokens

    _, clip, _ = tiny
    vectors = torch.arange(3 * 32, dtype=torch.float32).reshape(3, 32)
    tokens = weighted_tokens(clip.tokenizer, "x " * 73 + "(embedding:e:1.5) y",
                             {"e": vectors})
    assert tokens.ids[73:76] == [PLACEHOLDER_ID] * 3 and tokens.weights[73:76] == [1.5] * 3
    assert tokens.groups == [(73, 76)]
    first, second = chunks(clip.tokenizer, tokens)
    assert first.vectors == {} and first.ids[74] == clip.tokenizer.eos_token_id
    assert sorted(second.vectors) == [1, 2, 3]
    assert all(torch.equal(second.vectors[1 + i], vectors[i]) for i in range(3))
    assert second.weights[1:5] == [1.5, 1.5, 1.5, 1.0]
