"""The demo tokenizer is built offline and keeps caption words whole."""

from __future__ import annotations

from pathlib import Path

from pipelines.demo.dataset import caption_vocabulary
from pipelines.demo.tokenizer import MODEL_MAX_LENGTH, load_tokenizer, write_tokenizer


def test_every_caption_word_is_one_token(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(write_tokenizer(tmp_path / "tok"))
    for word in caption_vocabulary():
        assert tokenizer.tokenize(word) == [word + "</w>"], word
    ids = tokenizer("a red circle").input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<|startoftext|>", "a</w>", "red</w>", "circle</w>", "<|endoftext|>"]


def test_tokenizer_lowercases_and_falls_back_to_characters(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(write_tokenizer(tmp_path / "tok"))
    assert tokenizer.tokenize("A Red CIRCLE") == ["a</w>", "red</w>", "circle</w>"]
    pieces = tokenizer.tokenize("zebra")
    assert "".join(pieces) == "zebra</w>" and tokenizer.unk_token_id not in \
        tokenizer.convert_tokens_to_ids(pieces[:-1])
    padded = tokenizer(["a blue square"], padding="max_length", max_length=MODEL_MAX_LENGTH)
    assert len(padded.input_ids[0]) == MODEL_MAX_LENGTH == tokenizer.model_max_length
