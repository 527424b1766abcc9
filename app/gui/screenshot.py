"""Render the studio after running a workflow and write a PNG (``main.py --screenshot FILE``)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from app.engine.registry import Registry


def take_screenshot(path: Path, workflow: Path | None = None, *,
                    registry: Registry | None = None, timeout: float = 300.0,
                    size: tuple[int, int] = (1400, 860)) -> int:
    """Open ``workflow`` (default: the default workflow), run it, and save the window as PNG.

    Returns:
        0 when the run finished and the PNG was written; 1 when the run failed, was
        cancelled or timed out (the PNG, showing why, is still written); 2 when the
        workflow could not be opened or nothing could be written.
    """
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.gui.files import DEFAULT_WORKFLOW
    from app.gui.main_window import MainWindow
    from app.gui.theme import apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0]])
    apply_theme(app)
    scratch = Path(tempfile.mkdtemp(prefix="studio-shot-"))
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(registry=registry, settings=settings, data_dir=scratch,
                        output_dir=scratch / "output")
    window.ask_save = lambda: "discard"  # type: ignore[method-assign]
    window.resize(*size)
    window.show()
    if not window.files.open(Path(workflow) if workflow else DEFAULT_WORKFLOW):
        print(f"error: cannot open {workflow or DEFAULT_WORKFLOW}", file=sys.stderr)
        window.close()
        return 2
    _pump(app, 0.3)
    window.canvas.frame_all()
    code = 1
    if window.run_workflow():
        deadline = time.monotonic() + timeout
        while window.runner.running and time.monotonic() < deadline:
            _pump(app, 0.05)
        if window.runner.running:
            window.cancel_run()
            window.runner.wait(10)
        result = window.runner.last_result
        code = 0 if result is not None and result.status == "ok" else 1
    _pump(app, 0.5)  # let the device probe and the last events land
    window.canvas.frame_all()
    _pump(app, 0.1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        print(f"error: cannot write {path}", file=sys.stderr)
        code = 2
    window.close()
    return code


def _pump(app: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)
