"""Prompt weighting ``(word:1.3)`` and prompts longer than the text encoder's window.

The syntax is the one AUTOMATIC1111 and ComfyUI users write: ``(text)`` multiplies the
attention on ``text`` by 1.1, ``[text]`` divides it by 1.1, ``(text:1.3)`` sets a factor,
brackets nest, and ``\\(`` is a literal bracket. Long prompts are split into chunks of
``model_max_length - 2`` tokens, each encoded on its own and concatenated (ComfyUI's way).
A weight w moves a token's embedding away from the empty prompt's: ``e0 + w (e - e0)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYNTAX = re.compile(
    r"\\[()\[\]\\]"  # escaped bracket or backslash
    r"|\(|\["  # openers
    r"|:\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*\)"  # explicit weight and closer
    r"|\)|\]"  # plain closers
    r"|[^\\()\[\]:]+|:|\\"  # text
)
ROUND, SQUARE = 1.1, 1 / 1.1


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


def weighted_tokens(tokenizer, prompt: str) -> tuple[list[int], list[float]]:
    """Token ids (no start/end tokens) and one weight per token."""
    ids: list[int] = []
    weights: list[float] = []
    for span in parse(prompt):
        tokens = tokenizer(span.text, add_special_tokens=False).input_ids
        ids += tokens
        weights += [span.weight] * len(tokens)
    return ids, weights


def chunks(tokenizer, ids: list[int], weights: list[float]) -> list[tuple[list[int], list[float]]]:
    """Windows of ``[start] + up to (max_length - 2) tokens + [end] + padding``."""
    size = tokenizer.model_max_length - 2
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end
    out = []
    for offset in range(0, max(len(ids), 1), size):
        part, part_w = ids[offset : offset + size], weights[offset : offset + size]
        filler = size - len(part)
        window = [start, *part, end] + [pad] * filler
        window_w = [1.0, *part_w, 1.0] + [1.0] * filler
        out.append((window, window_w))
    return out
