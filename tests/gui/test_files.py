"""Files from the window: save/reopen, title, recent, unsaved changes, autosave, drops."""

from __future__ import annotations

import json

from PIL import Image
from PySide6.QtCore import QSettings

from app.gui.main_window import MainWindow
from app.interop.open import open_workflow
from tests.gui.conftest import RUN_MS, build_chain
from tests.gui.toy_studio import make_registry


def test_save_and_reopen_gives_the_same_graph(window, tmp_path):
    build_chain(window)
    assert "Untitled" in window.windowTitle() and window.isWindowModified()
    target = tmp_path / "flow.json"
    window.choose_path = lambda saving: target
    window.actions["save"].trigger()  # no file yet: acts as Save As
    assert target.is_file()
    assert window.windowTitle().startswith("flow.json") and not window.isWindowModified()
    saved = window.document.graph.copy()
    window.actions["new"].trigger()
    assert not window.document.graph.nodes
    assert window.open_file(target)
    assert window.document.graph == saved
    assert window.document.graph == open_workflow(target, window.registry)
    assert window.canvas._view_links() == set(saved.edges)
    assert window.files.recent()[0] == target.resolve()
    assert [a.text() for a in window.recent_menu.actions()] == [str(target.resolve())]


def test_undo_back_to_the_saved_state_clears_the_unsaved_marker(window, tmp_path):
    build_chain(window)
    window.files.save(tmp_path / "a.json")
    window.document.set_value("1", "value", 9)
    assert window.isWindowModified()
    window.actions["undo"].trigger()
    assert not window.isWindowModified()


def test_closing_with_unsaved_changes_asks(window):
    build_chain(window)
    asked = []
    window.ask_save = lambda: asked.append(1) or "cancel"
    assert not window.close()
    assert asked and window.isVisible()
    window.ask_save = lambda: "discard"
    assert window.close()


def test_startup_opens_the_last_workflow(window, tmp_path, qtbot):
    build_chain(window)
    window.files.save(tmp_path / "last.json")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(registry=make_registry(), settings=settings, data_dir=tmp_path / "d2",
                       device="cpu", probe_device=False)
    qtbot.addWidget(again)
    again.files.open_startup()
    assert again.document.path == (tmp_path / "last.json").resolve()
    assert again.document.graph == window.document.graph


def test_autosave_writes_the_unsaved_workflow_and_recovers_it(window, tmp_path, qtbot):
    assert window.files.autosave() is None  # nothing to save
    build_chain(window)
    path = window.files.autosave()
    assert path is not None and path.is_file()
    graph = window.document.graph.copy()
    window.files.new()
    assert window.files.recover()
    assert window.document.graph == graph and window.document.dirty


def test_dropping_files(window, tmp_path, qtbot):
    build_chain(window)
    window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    png = window.gallery.current_path()
    graph = window.document.graph.copy()
    window.files.new()
    window.files.drop([tmp_path / "out" / png.split("/")[-1]], (0, 0))
    assert window.document.graph == graph  # the PNG carried its workflow

    plain = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(plain)
    window.files.drop([plain], (10, 20))
    loads = [n for n in window.document.graph.nodes.values() if n.type == "image.load"]
    assert len(loads) == 1 and loads[0].values["path"] == str(plain)

    doc = tmp_path / "w.json"
    window.files.save(doc)
    window.files.new()
    window.files.drop([doc], (0, 0))
    assert len(window.document.graph.nodes) == 4

    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({"format": "nope"}))
    window.files.drop([bad], (0, 0))
    assert any("broken.json" in t for t in window.messages.texts())
    assert len(window.document.graph.nodes) == 4


def test_a_value_json_cannot_hold_is_one_error_message_not_a_crash(window, tmp_path):
    build_chain(window)
    messages: list[tuple[str, str]] = []
    window.files.message.connect(lambda level, text: messages.append((level, text)))
    next(iter(window.document.graph.nodes.values())).values["bad"] = object()
    target = tmp_path / "flow.json"
    assert window.files.save(target) is False and not target.exists()
    assert messages[-1][0] == "error" and "flow.json: cannot be saved" in messages[-1][1]
    assert window.files.autosave() is None  # the autosave timer must not raise either


def test_the_open_dialog_first_offers_every_file_that_opens(window, monkeypatch):
    """Found in a real X11 window: Open showed only .json until the filter was changed, so
    a new user saw none of the PNGs (or WebPs) whose workflow it opens."""
    from app.gui import file_commands

    asked = []
    monkeypatch.setattr(file_commands.QFileDialog, "getOpenFileName",
                        lambda *args: asked.append(args) or ("", ""))
    assert window.choose_path(saving=False) is None
    first = asked[0][3].split(";;")[0]
    for pattern in ("*.json", "*.png", "*.webp"):
        assert pattern in first


A1111 = ("a red circle on a blue background\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, "
         "CFG scale: 2.5, Seed: 7, Size: 64x64, Model: demo")


def test_dropping_an_image_that_carries_a_workflow_opens_it(qtbot, tmp_path):
    """An AUTOMATIC1111 PNG and an animated WebP (Save Animated, ComfyUI) open as File > Open
    opens them, rather than becoming a Load Image node."""
    import torch
    from PIL import PngImagePlugin

    from app.engine.registry import default_registry
    from app.engine.workflow import to_document
    from app.gui.files import DEFAULT_WORKFLOW
    from nodes._animated import save_animated
    from tests.gui.conftest import open_window

    win = open_window(qtbot, tmp_path, default_registry())
    a1111 = tmp_path / "a1111.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    Image.new("RGB", (8, 8)).save(a1111, pnginfo=info)
    win.files.drop([a1111], (0, 0))
    types = {n.type for n in win.document.graph.nodes.values()}
    assert "image.load" not in types and "sampling.sampler" in types
    assert open_workflow(a1111, win.registry, strict=False) == win.document.graph

    default = open_workflow(DEFAULT_WORKFLOW, win.registry)
    webp = save_animated(torch.zeros(2, 8, 8, 3), tmp_path, "anim", to_document(default),
                         "webp", 6.0)
    win.files.new()
    win.files.drop([webp], (0, 0))
    assert win.document.graph == default


def test_a_workflow_opened_from_an_image_is_named_after_it(window, tmp_path, qtbot,
                                                           monkeypatch):
    """Found in a real X11 window: every image's workflow opened as "Untitled", so several
    open images could not be told apart; saving it still never writes to the image."""
    from app.gui import file_commands

    build_chain(window)
    window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    (png,) = (tmp_path / "out").glob("*.png")
    window.files.new()
    assert window.open_file(png)
    tab = window.tabs.current
    assert window.document.path is None and window.document.source == png
    assert tab.label() == png.name and window.windowTitle().startswith(png.name)
    asked = []
    monkeypatch.setattr(file_commands.QFileDialog, "getSaveFileName",
                        lambda *args: asked.append(args) or ("", ""))
    assert not window.save_file()
    assert asked[0][2].endswith(f"{png.stem}.json")  # suggested beside, never the PNG
    window.canvas.add_node("toy.const", (0, 300))
    assert tab.label() == f"{png.name} *"
    doc = tmp_path / "kept.json"
    assert window.files.save(doc)
    assert tab.label() == "kept.json" and window.document.source is None
    window.files.new()
    assert window.tabs.current.label() == "Untitled"
