"""Prompt weighting ``(word:1.3)`` and prompts longer than the text encoder's window.

The syntax is the one AUTOMATIC1111 and ComfyUI users write: ``(text)`` multiplies the
attention on ``text`` by 1.1, ``[text]`` divides it by 1.1, ``(text:1.3)`` sets a factor,
brackets nest, and ``\\(`` is a literal bracket. Long prompts are split into chunks of
``model_max_length - 2`` tokens, each encoded on its own and concatenated (ComfyUI's way).
A weight w moves a token's embedding away from the empty prompt's: ``e0 + w (e - e0)``.
``embedding:name`` (ComfyUI's syntax) stands for a textual-inversion embedding's vectors; they
take the weight of the text around them and are never split across two windows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SYNTAX = re.compile(
    r"\\[()\[\]\\]"  # escaped bracket or backslash
    r"|\(|\["  # openers
    r"|:\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*\)"  # explicit weight and closer
    r"|\)|\]"  # plain closers
    r"|[^\\()\[\]:]+|:|\\"  # text
)
ROUND, SQUARE = 1.1, 1 / 1.1
# ``embedding:name``: a name runs to whitespace, a comma, a weight colon or a bracket; a
# sentence's final dot is not part of it. The name may hold a subfolder and an extension.
EMBEDDING = re.compile(r"(?<![\w])embedding:([^\s,:()\[\]]*[^\s,:()\[\].])")


@dataclass(frozen=True)
class Span:
    text: str
    weight: float


def parse(prompt: str) -> list[Span]:
    """Split a prompt into spans of text with their attention weights."""
    spans: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for span in spans[start:]:
            span[1] *= factor

    for match in _SYNTAX.finditer(prompt):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\") and len(token) == 2:
            spans.append([token[1], 1.0])
        elif token == "(":
            round_open.append(len(spans))
        elif token == "[":
            square_open.append(len(spans))
        elif weight is not None and round_open:
            scale(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            scale(round_open.pop(), ROUND)
        elif token == "]" and square_open:
            scale(square_open.pop(), SQUARE)
        elif weight is not None:  # "text:1.2)" without an opener: keep it literally
            spans.append([token, 1.0])
        else:
            spans.append([token, 1.0])
    for start in round_open:  # unclosed brackets still apply, as users expect
        scale(start, ROUND)
    for start in square_open:
        scale(start, SQUARE)
    merged: list[Span] = []
    for text, weight in spans:
        if merged and merged[-1].weight == weight:
            merged[-1] = Span(merged[-1].text + text, weight)
        elif text:
            merged.append(Span(text, weight))
    return merged or [Span("", 1.0)]


def has_syntax(prompt: str) -> bool:
    """Whether the prompt uses any weighting syntax (brackets)."""
    return any(c in prompt for c in "()[]")


def embedding_names(prompt: str) -> list[str]:
    """Names of the ``embedding:name`` references in a prompt, in order, without repeats."""
    names = [m.group(1) for span in parse(prompt) for m in EMBEDDING.finditer(span.text)]
    return list(dict.fromkeys(names))


@dataclass
class Tokens:
    """A prompt as token ids (no start/end tokens) with one weight each. ``vectors`` maps a
    position to the embedding vector that replaces its (placeholder) token; ``groups`` are the
    [start, stop) runs of one embedding, kept in one window when they fit."""

    ids: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    vectors: dict[int, Any] = field(default_factory=dict)
    groups: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Window:
    """``[start] + tokens + [end] + padding``, with its weights and spliced vectors."""

    ids: list[int]
    weights: list[float]
    vectors: dict[int, Any]


# Placeholder id under an embedding vector: never the end token, which CLIP pools at (the
# first one, or the highest id in old configs), so 0 is safe for every CLIP tokenizer.
PLACEHOLDER_ID = 0


def weighted_tokens(
    tokenizer, prompt: str, embeddings: Mapping[str, Any] | None = None
) -> Tokens:
    """Token ids (no start/end tokens), one weight per token, and embedding vectors.

    Args:
        tokenizer: The CLIP tokenizer of one text encoder.
        prompt: The prompt, with weighting syntax and ``embedding:name`` references.
        embeddings: name -> vectors [n, dim] for this encoder; None tokenizes references as text.

    Returns:
        The prompt's ``Tokens``.
    """
    tokens = Tokens()

    def add_text(text: str, weight: float) -> None:
        ids = tokenizer(text, add_special_tokens=False).input_ids if text else []
        tokens.ids.extend(ids)
        tokens.weights.extend([weight] * len(ids))

    for span in parse(prompt):
        if embeddings is None:
            add_text(span.text, span.weight)
            continue
        cursor = 0
        for match in EMBEDDING.finditer(span.text):
            add_text(span.text[cursor : match.start()], span.weight)
            start = len(tokens.ids)
            for vector in embeddings[match.group(1)]:
                tokens.vectors[len(tokens.ids)] = vector
                tokens.ids.append(PLACEHOLDER_ID)
                tokens.weights.append(span.weight)
            tokens.groups.append((start, len(tokens.ids)))
            cursor = match.end()
        add_text(span.text[cursor:], span.weight)
    return tokens


def chunks(tokenizer, tokens: Tokens) -> list[Window]:
    """Windows of ``[start] + up to (max_length - 2) tokens + [end] + padding``; an embedding
    that would straddle a window boundary moves whole to the next window (A1111's rule)."""
    size = tokenizer.model_max_length - 2
    start_id, end_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    out: list[Window] = []
    start, count = 0, len(tokens.ids)
    while True:
        stop = min(start + size, count)
        for first, last in tokens.groups:
            if start < first < stop < last and last - first <= size:
                stop = first
                break
        filler = size - (stop - start)
        out.append(Window(
            ids=[start_id, *tokens.ids[start:stop], end_id] + [pad] * filler,
            weights=[1.0, *tokens.weights[start:stop], 1.0] + [1.0] * filler,
            vectors={1 + p - start: v for p, v in tokens.vectors.items() if start <= p < stop},
        ))
        if stop >= count:
            return out
        start = stop
