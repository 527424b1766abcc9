"""``(word:w)`` prompt weights on SD3 and Flux: the word's T5 states are scaled by w (the other
tokens' states and the CLIP parts stay those of the plain text), and a weight of 1 encodes
exactly as the plain prompt."""

from __future__ import annotations

import pytest
import torch

from pipelines.loading.checkpoint import load_checkpoint
from pipelines.text.conditioning import encode_text


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from pipelines.testing.tiny_flux import build_tiny_flux
    from pipelines.testing.tiny_sd3 import build_tiny_sd3_folder

    root = tmp_path_factory.mktemp("weights")
    return {"flux": load_checkpoint(build_tiny_flux(root / "flux", "dev"))[1],
            "sd3": load_checkpoint(build_tiny_sd3_folder(root / "sd3", "sd3"))[1]}


@pytest.mark.parametrize("family", ["flux", "sd3"])
def test_a_weight_scales_the_words_t5_states(clips, family):
    clip = clips[family]
    plain = encode_text(clip, "red")
    one = encode_text(clip, "(red:1.0)")
    assert torch.equal(one.embeds, plain.embeds)
    assert torch.equal(one.extras["pooled"], plain.extras["pooled"])
    double = encode_text(clip, "(red:2.0)")
    t5_start = 77 if family == "sd3" else 0  # SD3: CLIP states first, then T5's
    tokenizer = clip.tokenizer_3 if family == "sd3" else clip.tokenizer_2
    words = len(tokenizer("red", add_special_tokens=False).input_ids)
    t5 = slice(t5_start, t5_start + words)
    assert torch.allclose(double.embeds[:, t5], 2 * plain.embeds[:, t5], atol=1e-6)
    rest = torch.ones(double.embeds.shape[1], dtype=torch.bool)
    rest[t5] = False
    if family == "sd3":  # the word's CLIP states move too (next test); the rest stay
        rest[1:1 + len(clip.tokenizer("red", add_special_tokens=False).input_ids)] = False
    assert torch.equal(double.embeds[:, rest], plain.embeds[:, rest])
    assert torch.equal(double.extras["pooled"], plain.extras["pooled"])


def test_sd3_weights_move_the_words_clip_states_from_the_empty_prompts(clips):
    """ComfyUI's CLIP token weighting on both SD3 CLIPs: empty + (state - empty) * w at the
    word's positions (CLIP-L and CLIP-G side by side, zero-padded to T5's width)."""
    from pipelines.text.sd3 import _clip_states

    clip = clips["sd3"]
    plain, double = encode_text(clip, "a red cat"), encode_text(clip, "a (red:2.0) cat")
    empty = encode_text(clip, "")
    words = len(clip.tokenizer("a ", add_special_tokens=False).input_ids)
    red = slice(1 + words, 1 + words + len(clip.tokenizer("red", add_special_tokens=False)
                                               .input_ids))
    with torch.no_grad():
        state_l, _ = _clip_states(clip.tokenizer, clip.text_encoder, "a red cat", "cpu", None)
    width = state_l.shape[-1] + clip.text_encoder_2.config.hidden_size
    expected = empty.embeds[:, red, :width] + 2 * (plain.embeds[:, red, :width]
                                                   - empty.embeds[:, red, :width])
    assert torch.allclose(double.embeds[:, red, :width], expected, atol=1e-5)
    assert (double.embeds[:, red, :width] - plain.embeds[:, red, :width]).abs().max() > 1e-3
    assert not double.embeds[:, :77, width:].any()  # still zero-padded to T5's width
