"""Results that an edit made out of date are flagged "changed since run"."""

from __future__ import annotations

from tests.gui.conftest import RUN_MS, build_chain


def _wait(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    return window.runner.last_result


def test_editing_during_a_run_flags_the_node_and_what_follows(window, qtbot):
    ids = build_chain(window, steps=40, delay=0.02)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: window.preview.frames >= 2, timeout=RUN_MS)
    window.canvas.select([ids["const"]])
    window.properties.editors["value"].field.setValue(9)  # the user edits while it runs
    assert _wait(window, qtbot).status == "ok"
    for key in ("const", "render", "save"):
        state, text = window.canvas.state_of(ids[key])
        assert state == "stale" and "changed since run" in text, key
    window.actions["undo"].trigger()  # back to what ran: current again
    assert window.canvas.state_of(ids["const"])[0] == "done"
    assert window.canvas.state_of(ids["render"])[0] == "done"
    window.actions["redo"].trigger()
    assert window.canvas.state_of(ids["render"])[0] == "stale"
    preview = window.canvas.view_node(ids["render"]).view.preview_item
    assert preview is not None and preview.opacity() < 1.0
    assert _run_again(window, qtbot)
    assert window.canvas.state_of(ids["render"])[0] == "done"
    assert preview.opacity() == 1.0


def _run_again(window, qtbot) -> bool:
    window.document.set_value("2", "steps", 2)
    assert window.run_workflow()
    return _wait(window, qtbot).status == "ok"


def test_editing_after_a_run_flags_only_downstream(window, qtbot):
    ids = build_chain(window, steps=2, delay=0.0)
    assert window.run_workflow()
    _wait(window, qtbot)
    window.document.set_value(ids["save"], "prefix", "other")
    assert window.canvas.state_of(ids["save"])[0] == "stale"
    assert window.canvas.state_of(ids["render"])[0] == "done"
    assert window.canvas.state_of(ids["const"])[0] == "done"
    window.document.change_links([(ids["render"], "x")], [])  # a link removed
    assert window.canvas.state_of(ids["render"])[0] == "stale"
    assert window.canvas.state_of(ids["const"])[0] == "done"
