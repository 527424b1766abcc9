"""The queue's order and the history file, without a server."""

from __future__ import annotations

import json
from pathlib import Path

from app.server.history import History
from app.server.prompt_queue import PromptQueue


def _put(queue: PromptQueue, prompt_id: str, front: bool = False) -> None:
    queue.put(queue.next_number(front), prompt_id, {}, {}, [])


def test_front_prompts_jump_ahead_and_pending_ones_can_go() -> None:
    changes: list[int] = []
    queue = PromptQueue(lambda: changes.append(1))
    for name in ("a", "b", "c"):
        _put(queue, name)
    _put(queue, "urgent", front=True)
    assert [i[1] for i in queue.current()[1]] == ["urgent", "a", "b", "c"]
    assert queue.delete({"b", "nope"}) == 1
    item = queue.get(timeout=0)
    assert item is not None and item.prompt_id == "urgent"
    running, pending = queue.current()
    assert [i[1] for i in running] == ["urgent"] and [i[1] for i in pending] == ["a", "c"]
    assert queue.remaining() == 3
    queue.clear()
    queue.done(item)
    assert queue.remaining() == 0 and changes
    queue.close()
    assert queue.get(timeout=0) is None and queue.closed


def test_history_is_kept_capped_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "history.json"
    history = History(path, max_items=3)
    for n in range(5):
        history.add(f"p{n}", {"outputs": {}, "status": {"status_str": "success"}})
    assert list(History(path).get()) == ["p2", "p3", "p4"]  # the oldest went first
    assert list(history.get(max_items=2)) == ["p3", "p4"]
    assert list(history.get(max_items=1, offset=1)) == ["p3"]
    assert history.get("p3") == {"p3": {"outputs": {}, "status": {"status_str": "success"}}}
    assert history.get("gone") == {}
    history.delete({"p3"})
    assert list(History(path).get()) == ["p2", "p4"]
    history.clear()
    assert json.loads(path.read_text()) == {}


def test_a_damaged_history_file_is_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text('{"p1": {"outputs": ')
    history = History(path)
    assert history.get() == {}
    (aside,) = tmp_path.glob("history.json.broken-*")
    assert aside.read_text() == '{"p1": {"outputs": '
    history.add("p2", {})
    assert list(History(path).get()) == ["p2"]
