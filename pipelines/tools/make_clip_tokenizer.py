"""Derive the CLIP tokenizer files (vocab.json, merges.txt) from CLIP's BPE merges.

The merges ship (MIT) inside the PyPI package ``open_clip_torch`` as
``open_clip/bpe_simple_vocab_16e6.txt.gz``. The vocabulary is built as CLIP builds it:
the 256 byte-level characters, the same with ``</w>``, one token per merge (the first 48,894
merges after the header line), then ``<|startoftext|>`` and ``<|endoftext|>`` (49,408 in all).

Usage::

    pip download --no-deps open_clip_torch -d /tmp/oc
    python -m pipelines.tools.make_clip_tokenizer /tmp/oc/open_clip_torch-*.whl
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

from pipelines.text.bpe import bytes_to_unicode

MERGES_USED = 49152 - 256 - 2  # CLIP keeps this many merges; vocab = 2 * 256 + merges + 2
SPECIAL = ("<|startoftext|>", "<|endoftext|>")
BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
TARGET = Path(__file__).resolve().parents[2] / "resources" / "configs" / "clip-tokenizer"




def read_merges(source: Path) -> list[str]:
    """The merges CLIP uses, from the .txt.gz itself or from a wheel that contains it."""
    if source.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(source) as wheel:
            raw = gzip.decompress(wheel.read(BPE_MEMBER))
    else:
        raw = gzip.decompress(source.read_bytes())
    lines = raw.decode("utf-8").split("\n")
    return lines[1 : MERGES_USED + 1]  # line 0 is a header


def build_vocab(merges: list[str]) -> dict[str, int]:
    """CLIP's token -> id table for ``merges``."""
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + [m.replace(" ", "") for m in merges]
    tokens += list(SPECIAL)
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer(source: Path, target: Path = TARGET) -> None:
    """Write vocab.json and merges.txt (the formats ``transformers.CLIPTokenizer`` reads)."""
    merges = read_merges(source)
    if len(merges) != MERGES_USED:
        raise SystemExit(f"{source}: expected {MERGES_USED} merges, found {len(merges)}")
    vocab = build_vocab(merges)
    target.mkdir(parents=True, exist_ok=True)
    (target / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    (target / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="open_clip_torch wheel or bpe .txt.gz")
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()
    write_tokenizer(args.source, args.target)
    print(f"wrote {args.target}/vocab.json and merges.txt")


if __name__ == "__main__":
    main()
