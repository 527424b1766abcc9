"""Shared pieces of the fuzz suite: hostile JSON values, mutations of valid documents, and
a runner that bounds each case's time."""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st

BOUND_S = 20.0  # per case; generous, only there to tell "slow" from "never ends"
DEEP = "__deep__"  # replaced by deeply nested brackets in the written text

# values that trip naive code: wrong types, huge and non-finite numbers, odd text
LEAVES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**63, 2**64, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 0.5, math.nan, math.inf]),
    st.text(max_size=12),
    st.sampled_from(["", "abc", "1", "1.5", "nan", "euler", "normal", "KSampler", "Reroute",
                     "PrimitiveNode", "\ud800", "a" * 300, "0" * 40, DEEP, "[", "\"", "\\"]),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["id", "0", "1", "link"]),
                      inner, max_size=4),
    max_leaves=8,
)


def paths(doc: Any, here: tuple = ()) -> Iterator[tuple]:
    """Every path (keys and indices) into ``doc``, the root included."""
    yield here
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*here, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from paths(value, (*here, index))


@st.composite
def mutated(draw: Any, original: Any) -> Any:
    """``original`` with one to three values replaced, deleted or added."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(doc))))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return doc


def to_text(doc: Any, depth: int = 300) -> str:
    """JSON text of ``doc`` (NaN as Python writes it), DEEP markers made ``depth`` deep."""
    text = json.dumps(doc)
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)


def bounded(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, failing the case when it runs past BOUND_S (a hang)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # re-raised below, in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"{function.__name__} did not finish in {BOUND_S} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
