"""File dialogs start in the user's folders; the preview clears; a broken Qt platform is
explained in one line."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from app.gui import platform_check
from app.gui.files import DEFAULT_WORKFLOW
from tests.gui.conftest import RUN_MS, build_chain

INSTALL = Path(__file__).resolve().parents[2]


def _capture(monkeypatch, answer: str) -> list[str]:
    asked: list[str] = []

    def fake(parent, caption, folder="", filt=""):
        asked.append(folder)
        return answer, ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    return asked


def test_workflow_dialogs_start_in_the_last_folder_never_the_install_folder(
        window, monkeypatch, tmp_path):
    monkeypatch.chdir(INSTALL)  # launched from the install folder
    asked = _capture(monkeypatch, "")
    window.open_file()
    first = Path(asked[0])
    assert first.is_dir() and first.resolve() != INSTALL and INSTALL not in first.parents
    folder = tmp_path / "mine"
    folder.mkdir()
    build_chain(window)
    asked = _capture(monkeypatch, str(folder / "flow.json"))
    assert window.save_file()
    assert Path(asked[0]).parent == first and Path(asked[0]).name == "workflow.json"
    asked = _capture(monkeypatch, "")
    window.open_file()
    assert asked == [str(folder)]


def test_image_picker_starts_in_the_last_image_folder(window, monkeypatch, tmp_path):
    monkeypatch.chdir(INSTALL)
    monkeypatch.setenv("STUDIO_INPUT", str(tmp_path / "input"))
    monkeypatch.delenv("STUDIO_ALLOW_PATHS")  # pics/ is a folder of the user's own
    node_id = window.canvas.add_node("image.load", (0, 0))
    window.canvas.select([node_id])
    editor = window.properties.editors["path"]
    picked = tmp_path / "pics" / "cat.png"
    picked.parent.mkdir()
    picked.write_bytes(b"")
    asked = _capture(monkeypatch, str(picked))
    editor._browse()
    assert Path(asked[0]).resolve() != INSTALL
    # adopted into the input folder (app.engine.picked_images): the node names it there
    assert window.document.graph.nodes[node_id].values["path"] == "cat.png"
    assert (tmp_path / "input" / "cat.png").is_file()
    other = window.canvas.add_node("image.load", (0, 200))
    window.canvas.select([other])
    asked = _capture(monkeypatch, "")
    window.properties.editors["path"]._browse()
    assert asked == [str(picked.parent)]


def test_preview_clears_on_new_and_open(window, qtbot):
    build_chain(window, steps=3)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    assert window.preview.frames == 3
    window.new_file()
    assert window.preview.frames == 0 and window.preview.caption.text() == "No preview yet."
    assert window.preview.image.pixmap().isNull()
    build_chain(window, steps=2)
    assert window.run_workflow()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=RUN_MS)
    window.files.open(DEFAULT_WORKFLOW)
    assert window.preview.frames == 0 and window.preview.image.pixmap().isNull()


LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x7f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
"""


def test_missing_platform_libraries_are_named_with_their_package(monkeypatch):
    assert platform_check.missing_from_ldd(LDD) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    line = platform_check.explain(["libxcb-cursor.so.0"])
    assert "\n" not in line and "sudo apt install libxcb-cursor0" in line
    assert platform_check.package_for("libxcb-foo.so.2") == "libxcb-foo2"
    assert platform_check.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    monkeypatch.setattr(platform_check, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0"])
    monkeypatch.setattr(platform_check, "xcb_plugin", lambda: Path("/x/libqxcb.so"))
    if platform_check.sys.platform.startswith("linux"):
        line = platform_check.platform_problem({"DISPLAY": ":0"})
        assert line is not None and "libxcb-cursor0" in line
        assert platform_check.platform_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}) \
            is None
        assert "DISPLAY" in platform_check.platform_problem({})


def test_run_app_prints_the_line_and_exits(monkeypatch, capsys):
    from PySide6.QtWidgets import QApplication

    from app.gui import launch

    monkeypatch.setattr(QApplication, "instance", staticmethod(lambda: None))
    monkeypatch.setattr(platform_check, "platform_problem", lambda: "error: missing libfoo")
    assert launch.run_app([]) == 2
    assert capsys.readouterr().err == "error: missing libfoo\n"
    assert os.environ.get("QT_QPA_PLATFORM") == "offscreen"  # the test session's own
