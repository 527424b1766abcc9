"""Textual-inversion embeddings (``embedding:name``) on the tiny SD and SDXL models.

The strongest check of the splice: an embedding whose vectors are the token embeddings of an
existing word must give exactly the conditioning of the prompt with that word.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from pipelines.loading.embeddings import EmbeddingError
from pipelines.text.conditioning import encode_text


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    """The user's embeddings folder, in tmp_path; no models.toml."""
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(tmp_path / "models.toml"))
    (tmp_path / "embeddings").mkdir()
    return tmp_path / "embeddings"


def word_rows(tokenizer, text_encoder, word: str) -> torch.Tensor:
    """The token embeddings [n, dim] the encoder looks up for ``word``."""
    ids = tokenizer(word, add_special_tokens=False).input_ids
    return text_encoder.get_input_embeddings().weight[ids].detach().clone()


def _a1111_pt(path, rows):
    torch.save({"string_to_param": {"*": torch.nn.Parameter(rows)}, "name": "cat", "step": 500,
                "string_to_token": {"*": 265}}, path)


def _civitai_safetensors(path, rows):
    save_file({"emb_params": rows}, str(path))


def _diffusers_bin(path, rows):
    torch.save({"<cat>": rows}, path)


def _diffusers_safetensors(path, rows):
    save_file({"<cat>": rows}, str(path))


@pytest.mark.parametrize(
    ("writer", "file", "reference"),
    [
        (_a1111_pt, "sub/cat.pt", "embedding:sub/cat"),
        (_civitai_safetensors, "cat.safetensors", "embedding:cat.safetensors"),
        (_diffusers_bin, "learned_embeds.bin", "embedding:learned_embeds"),
        (_diffusers_safetensors, "tok/learned_embeds.safetensors", "embedding:tok/learned_embeds"),
    ],
)
def test_an_embedding_of_a_words_vectors_equals_the_word(tiny, folder, writer, file, reference):
    _, clip, _ = tiny
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(path, word_rows(clip.tokenizer, clip.text_encoder, "cat"))
    assert len(clip.tokenizer("cat", add_special_tokens=False).input_ids) == 3  # 3 vectors
    plain = encode_text(clip, f"a {reference} on a mat")
    assert torch.equal(plain.embeds, encode_text(clip, "a cat on a mat").embeds)
    weighted = encode_text(clip, f"a ({reference}:1.3), on a mat")
    assert torch.equal(weighted.embeds, encode_text(clip, "a (cat:1.3), on a mat").embeds)


def test_a_single_vector_diffusers_embedding(tiny, folder):
    _, clip, _ = tiny
    rows = word_rows(clip.tokenizer, clip.text_encoder, "a")
    assert rows.shape[0] == 1
    save_file({"<a>": rows[0]}, str(folder / "one.safetensors"))  # shape [dim], no n
    assert torch.equal(encode_text(clip, "embedding:one red").embeds,
                       encode_text(clip, "a red").embeds)


def test_a_random_embedding_changes_the_prompt_and_takes_its_weight(tiny, folder):
    _, clip, _ = tiny
    torch.save({"string_to_param": {"*": torch.randn(2, 32, generator=torch.Generator().manual_seed(3))}},
               folder / "rnd.pt")
    base = encode_text(clip, "ab cd").embeds
    with_embedding = encode_text(clip, "ab embedding:rnd cd").embeds
    assert not torch.allclose(base, with_embedding)
    one = encode_text(clip, "ab (embedding:rnd:1.0) cd").embeds
    assert torch.allclose(one, with_embedding, atol=1e-5)
    strong = encode_text(clip, "ab (embedding:rnd:1.6) cd").embeds
    changed = (strong - one).abs().amax(dim=-1)[0] > 1e-5
    start = 1 + len(clip.tokenizer("ab ", add_special_tokens=False).input_ids)
    expected = torch.zeros_like(changed)
    expected[start : start + 2] = True  # exactly the embedding's two vectors
    assert torch.equal(changed, expected)


def test_an_embedding_is_moved_whole_to_the_next_window(tiny, folder):
    _, clip, _ = tiny
    save_file({"emb_params": word_rows(clip.tokenizer, clip.text_encoder, "cat")},
              str(folder / "cat.safetensors"))
    # 74 one-token words + 3 vectors overflow the 75-token window by 2
    long = encode_text(clip, "x " * 74 + "embedding:cat").embeds
    assert long.shape == (1, 2 * 77, 32)
    assert torch.allclose(long[:, :77], encode_text(clip, "x " * 74).embeds, atol=1e-5)
    assert torch.allclose(long[:, 77:], encode_text(clip, "cat").embeds, atol=1e-5)


def test_the_text_encoder_is_left_as_it_was(tiny, folder):
    _, clip, _ = tiny
    table = clip.text_encoder.get_input_embeddings()
    before = table.weight.detach().clone()
    save_file({"emb_params": torch.randn(4, 32)}, str(folder / "rnd.safetensors"))
    plain = encode_text(clip, "a red circle").embeds
    encode_text(clip, "a embedding:rnd circle")
    encode_text(clip, "a (embedding:rnd:1.2) circle")
    assert not table._forward_hooks and torch.equal(table.weight, before)
    assert torch.equal(encode_text(clip, "a red circle").embeds, plain)


def test_sdxl_clip_l_and_clip_g_go_to_their_own_encoders(tiny_sdxl, folder):
    _, clip, _ = tiny_sdxl
    rows_l = word_rows(clip.tokenizer, clip.text_encoder, "cat")
    rows_g = word_rows(clip.tokenizer_2, clip.text_encoder_2, "cat")
    assert not torch.equal(rows_l, rows_g)  # the two encoders differ, so a mix-up shows
    save_file({"clip_l": rows_l, "clip_g": rows_g}, str(folder / "xl.safetensors"))
    save_file({"clip_l": rows_g, "clip_g": rows_l}, str(folder / "swapped.safetensors"))
    ref = encode_text(clip, "a cat on")
    ours = encode_text(clip, "a embedding:xl on")
    assert torch.equal(ours.embeds, ref.embeds) and torch.equal(ours.pooled, ref.pooled)
    weighted = encode_text(clip, "a (embedding:xl:0.8) on")
    assert torch.equal(weighted.embeds, encode_text(clip, "a (cat:0.8) on").embeds)
    swapped = encode_text(clip, "a embedding:swapped on").embeds
    assert not torch.allclose(swapped[..., :32], ref.embeds[..., :32])
    assert not torch.allclose(swapped[..., 32:], ref.embeds[..., 32:])


def test_a_missing_embedding_names_the_folders(tiny, folder):
    _, clip, _ = tiny
    with pytest.raises(EmbeddingError, match="Embedding 'bad_hands' not found in the "
                       "embeddings folders") as caught:
        encode_text(clip, "a cat, (embedding:bad_hands:1.2)")
    assert str(folder) in str(caught.value)


def test_an_embedding_for_another_width_is_refused_with_both_widths(tiny, tiny_sdxl, folder):
    save_file({"emb_params": torch.zeros(2, 768)}, str(folder / "sd15.safetensors"))
    with pytest.raises(EmbeddingError, match=r"made for SD1\.x \(768\) but this model's text "
                       r"encoder is 32 wide") as caught:
        encode_text(tiny[1], "embedding:sd15")
    assert "sd15.safetensors" in str(caught.value)
    save_file({"clip_l": torch.zeros(2, 768), "clip_g": torch.zeros(2, 1280)},
              str(folder / "xl.safetensors"))
    with pytest.raises(EmbeddingError, match=r"made for SDXL \(768 \+ 1280\) but this model's "
                       r"text encoders are 32 and 32 wide"):
        encode_text(tiny_sdxl[1], "embedding:xl")
    save_file({"clip_l": torch.zeros(2, 32)}, str(folder / "half.safetensors"))
    with pytest.raises(EmbeddingError, match=r"'half'.*has no clip_g vectors"):
        encode_text(tiny_sdxl[1], "embedding:half")


class _Payload:
    """Pickled by reference; loading it would need this module's code."""

    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return "ran"


def test_a_pickle_that_needs_code_is_refused_unopened(tiny, folder):
    _, clip, _ = tiny
    path = folder / "evil.pt"
    torch.save({"string_to_param": {"*": torch.zeros(1, 32)}, "x": _Payload()}, path)
    with pytest.raises(EmbeddingError, match=r"Refused to load embedding .*evil\.pt"):
        encode_text(clip, "embedding:evil")
    assert _Payload.ran is False


def test_a_file_that_is_no_embedding_is_a_clear_error(tiny, folder):
    save_file({"a": torch.zeros(1, 32), "b": torch.zeros(1, 32)}, str(folder / "two.safetensors"))
    with pytest.raises(EmbeddingError, match=r"two\.safetensors is not a textual-inversion"):
        encode_text(tiny[1], "embedding:two")
