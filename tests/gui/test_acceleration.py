"""Run -> Acceleration in the window: the fallback message reaches Messages through a real run,
the compile estimate reaches the status line, and "Use as This Workflow's Default" edits the
open workflow (undoable, saved, shown again on reopen)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from app.engine.registry import default_registry  # noqa: E402
from app.engine.run_settings import workflow_accelerate  # noqa: E402
from node_api.events import NodeStarted, NodeStatus, RunStarted  # noqa: E402
from pipelines.speed import accelerate  # noqa: E402
from pipelines.speed.compile_times import compiling_text  # noqa: E402
from tests.gui.conftest import close_window, open_window, wait_run  # noqa: E402
from tests.nodes.conftest import txt2img_graph  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from pipelines.testing.tiny import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


def test_where_compiling_cannot_work_messages_say_so_once(qtbot, tmp_path, checkpoint,
                                                          monkeypatch):
    studio = open_window(qtbot, tmp_path, default_registry())
    try:
        studio.document.load(txt2img_graph(default_registry(), checkpoint, steps=2), None)
        studio.run_settings.actions["accelerate"]["max"].trigger()
        monkeypatch.setattr(accelerate.shutil, "which", lambda name: None)  # no C++ compiler
        assert studio.run_workflow()
        wait_run(qtbot, studio)
        assert studio.runner.last_result.status == "ok"
        said = [t for t in studio.messages.texts() if "acceleration" in t]
        assert said == ["WARNING: acceleration 'max' is not available here (no C++ compiler "
                        "found (install g++ or clang)); running without it"]
        item = next(studio.messages.item(i) for i in range(studio.messages.count())
                    if "acceleration" in studio.messages.item(i).text())
        with qtbot.waitSignal(studio.messages.node_chosen) as chosen:
            studio.messages.itemActivated.emit(item)  # it names the sampler
        assert chosen.args == ["6"]
    finally:
        close_window(qtbot, studio)


def test_the_status_line_gives_the_measured_compile_time(window):
    from tests.gui.conftest import build_chain

    ids = build_chain(window, steps=2)
    presenter = window.tab.presenter
    presenter.begin(window.document.root)
    presenter.on_event(RunStarted(99, tuple(ids.values())))
    presenter.on_event(NodeStarted(99, ids["render"], "Render", "toy.render"))
    assert window.run_status.text() == "Render: preparing the first step…"  # no notice yet
    presenter.on_event(NodeStatus(99, ids["render"], compiling_text(None)))
    assert "may take minutes" in window.run_status.text()  # not measured yet
    presenter.on_event(NodeStatus(99, ids["render"], compiling_text(37.6)))
    assert window.run_status.text() == "Render: compiling the model for this size, ~38 s, once…"


def test_use_as_this_workflows_default_is_an_undoable_saved_edit(window, qtbot, tmp_path):
    from app.gui.main_window import MainWindow
    from tests.gui.conftest import build_chain
    from tests.gui.toy_studio import make_registry

    build_chain(window, steps=1)
    settings = window.run_settings
    settings.refresh()
    assert settings.actions["accelerate"]["auto"].text() == "The workflow's setting (off)"
    assert not settings.use_as_default.isEnabled()  # "auto" checked: nothing to make default
    settings.actions["accelerate"]["compile"].trigger()
    assert settings.use_as_default.isEnabled()
    window.files.save(tmp_path / "plain.json")
    assert not window.document.dirty
    settings.use_as_default.trigger()
    assert window.document.root.metadata["accelerate"] == "compile"
    assert window.document.dirty  # an edit like any other
    assert settings.actions["accelerate"]["auto"].text() == "The workflow's setting (compile)"
    assert not settings.use_as_default.isEnabled()  # already its default
    assert window.document.undo()
    assert "accelerate" not in window.document.root.metadata and not window.document.dirty
    assert window.document.redo()
    assert window.files.save(tmp_path / "fast.json")
    settings.actions["accelerate"]["auto"].trigger()

    again = MainWindow(registry=make_registry(), settings=window.settings,
                       data_dir=tmp_path / "data2", output_dir=tmp_path / "out", device="cpu",
                       probe_device=False)
    again.ask_save = lambda: "discard"  # closing it at the end asks nothing
    qtbot.addWidget(again)
    assert again.open_file(tmp_path / "fast.json")
    again.run_settings.menus["accelerate"].aboutToShow.emit()  # as the menu opens
    assert again.run_settings.actions["accelerate"]["auto"].isChecked()
    assert again.run_settings.actions["accelerate"]["auto"].text() == \
        "The workflow's setting (compile)"
    assert workflow_accelerate(again.document.root.metadata) == "compile"
    assert again.run_settings.options()["accelerate"] is None  # runs take the workflow's
    again.run_settings.actions["accelerate"]["off"].trigger()
    again.run_settings.use_as_default.trigger()  # off again: the entry goes
    assert "accelerate" not in again.document.root.metadata
