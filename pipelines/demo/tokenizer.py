"""An offline CLIP tokenizer whose vocabulary is the demo captions' words.

The files are a standard CLIP ``vocab.json`` + ``merges.txt``: the 512 byte-level fallback
symbols (each byte-char alone and with ``</w>``), the two special tokens, and for every caption
word BPE merges that assemble it into one token, so "a red circle" is three tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.text.bpe import bytes_to_unicode

from .dataset import caption_vocabulary

MODEL_MAX_LENGTH = 32
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"




def _symbols(word: str) -> list[str]:
    return list(word[:-1]) + [word[-1] + "</w>"]


def _apply_bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Greedy lowest-rank-first BPE, exactly as CLIP applies it."""
    parts = _symbols(word)
    while len(parts) > 1:
        pairs = [(ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
    return parts


def build_vocab_and_merges(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges such that every word in ``words`` is a single token."""
    merges: list[tuple[str, str]] = []
    for word in words:
        parts = _symbols(word)
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            if pair not in merges:
                merges.append(pair)
            parts = [parts[0] + parts[1]] + parts[2:]
    # Earlier merges can pre-empt a later word's chain; append fix-up merges until stable.
    for _ in range(100):
        ranks = {m: i for i, m in enumerate(merges)}
        broken = [(w, _apply_bpe(w, ranks)) for w in words]
        broken = [(w, p) for w, p in broken if len(p) > 1]
        if not broken:
            break
        for _, parts in broken:
            pair = (parts[0], parts[1])
            if pair not in merges:
                merges.append(pair)
    else:  # pragma: no cover - the vocabulary is fixed and known to converge
        raise RuntimeError("could not build BPE merges for the demo vocabulary")
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(a + b) for a, b in merges]
    tokens += [BOS, EOS]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def write_tokenizer(directory: str | Path) -> Path:
    """Write a loadable CLIPTokenizer folder (vocab, merges, configs) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges(caption_vocabulary())
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n", "utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2), "utf-8")
    return directory


def load_tokenizer(directory: str | Path):  # -> transformers.CLIPTokenizer
    """Load the tokenizer folder written by :func:`write_tokenizer`."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(directory), local_files_only=True)
