"""encode_text against diffusers' own encode_prompt (SD and SDXL)."""

from __future__ import annotations

import torch

from pipelines.text.conditioning import encode_text


def test_matches_stable_diffusion_encode_prompt(tiny, sd_pipe):
    _, clip, _ = tiny
    prompt = "a red circle on a blue square"
    ref_pos, ref_neg = sd_pipe.encode_prompt(prompt, "cpu", 1, True, negative_prompt="")
    pos, neg = encode_text(clip, prompt), encode_text(clip, "")
    assert pos.embeds.shape == (1, 77, 32) and pos.pooled is None and pos.text == prompt
    assert torch.equal(pos.embeds, ref_pos) and torch.equal(neg.embeds, ref_neg)
    assert not torch.allclose(pos.embeds, neg.embeds)


def test_clip_skip_uses_an_earlier_layer_with_the_final_norm(tiny):
    """diffusers' semantics (its own clip_skip path needs ``.text_model``, gone in transformers 5):
    hidden state -(clip_skip + 1), passed through the final LayerNorm."""
    _, clip, _ = tiny
    ids = clip.tokenizer("a cat", padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():
        hidden = clip.text_encoder(ids.input_ids, output_hidden_states=True).hidden_states
        ref = clip.text_encoder.final_layer_norm(hidden[-2])
    skipped = encode_text(clip, "a cat", clip_skip=1)
    assert torch.equal(skipped.embeds, ref)
    assert not torch.allclose(skipped.embeds, encode_text(clip, "a cat").embeds)


def test_long_prompts_are_encoded_in_windows_of_the_tokenizer_length(tiny):
    _, clip, _ = tiny
    long = encode_text(clip, "word " * 200)
    tokens = len(clip.tokenizer("word " * 200, add_special_tokens=False).input_ids)  # 800
    assert long.embeds.shape == (1, 77 * -(-tokens // 75), 32)


def test_sdxl_weighted_prompt_keeps_pooled_and_width(tiny_sdxl):
    _, clip, _ = tiny_sdxl
    plain, weighted = encode_text(clip, "a red circle"), encode_text(clip, "a (red:1.4) circle")
    assert weighted.embeds.shape == plain.embeds.shape
    assert torch.allclose(weighted.pooled, plain.pooled, atol=1e-6)
    assert not torch.allclose(weighted.embeds, plain.embeds)


def test_matches_sdxl_encode_prompt(tiny_sdxl, sdxl_pipe):
    _, clip, _ = tiny_sdxl
    prompt = "a red circle"
    ref, ref_neg, ref_pooled, ref_neg_pooled = sdxl_pipe.encode_prompt(
        prompt, device="cpu", do_classifier_free_guidance=True, negative_prompt=""
    )
    pos, neg = encode_text(clip, prompt), encode_text(clip, "")
    assert pos.embeds.shape == (1, 77, 64) and pos.pooled.shape == (1, 32)
    assert torch.equal(pos.embeds, ref) and torch.equal(pos.pooled, ref_pooled)
    assert torch.equal(neg.embeds, ref_neg) and torch.equal(neg.pooled, ref_neg_pooled)
