"""Start the desktop studio: check the platform, make the application, open the window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.gui.main_window import APP_NAME, MainWindow


def run_app(argv: list[str] | None = None, workflow: Path | None = None) -> int:
    """Open the studio window (on ``workflow`` when given); returns the exit code."""
    if QApplication.instance() is None:
        from app.gui.platform_check import platform_problem

        problem = platform_problem()  # before Qt aborts with a page of plugin diagnostics
        if problem:
            print(problem, file=sys.stderr)
            return 2
    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    from app.gui.theme import apply_theme

    app.setApplicationName(APP_NAME)
    apply_theme(app)
    # Qt frees clipboard data we set while PySide still holds a wrapper: clear it on quit
    # or the process crashes on exit (seen with the offscreen and xcb platforms).
    app.aboutToQuit.connect(lambda: QApplication.clipboard().clear())
    window = MainWindow()
    open_at_start(window, workflow)
    window.show()
    window.canvas.frame_all()
    return app.exec()


def open_at_start(window: MainWindow, workflow: Path | None = None) -> None:
    """The last launch's tabs, with the unsaved changes of a session that ended without
    saving when the user agrees (each in its tab again); else the last file or the default
    workflow. Then ``workflow`` (from the command line) in a tab of its own."""
    recover = bool(window.tabs.autosaves()) and window.ask_recover()
    for line in window.session.restore(window.tabs, recover):
        window.messages.add("warning", line)
    if len(window.tabs.tabs) == 1 and window.tab.reusable():
        window.files.open_startup()
    if workflow is not None:
        window.open_file(Path(workflow))
