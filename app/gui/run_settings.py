"""Run menu settings: weight precision, GPU memory mode and acceleration, remembered between
sessions.

The same choices as the command line's ``--precision``, ``--vram`` and ``--accelerate``; every
run started from the window carries them in its ``RunOptions``. Acceleration's "auto" follows
the open workflow's own default (its metadata ``"accelerate"``), which "Use as This
Workflow's Default" sets from the checked choice, as an undoable edit of the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from app.engine.run_settings import workflow_accelerate
from app.gui.document import Document
from pipelines.catalog import ACCELERATE_NAMES, PRECISION_NAMES, VRAM_MODE_NAMES

_LABELS = {
    "precision": {"auto": "Automatic (fp32 on the CPU, fp16 on a GPU)", "fp32": "fp32",
                  "fp16": "fp16", "bf16": "bf16"},
    "vram_mode": {"auto": "Automatic (low when a model does not fit)",
                  "normal": "Normal: models stay on the GPU",
                  "low": "Low: only the network in use is on the GPU"},
    "accelerate": {"auto": "The workflow's setting (else off)", "off": "Off",
                   "compile": "Compile (torch.compile; the first run at a size compiles)",
                   "max": "Max (compile + autotune + CUDA graphs; slow first run)"},
}
_CHOICES = {"precision": PRECISION_NAMES, "vram_mode": VRAM_MODE_NAMES,
            "accelerate": ("auto", *ACCELERATE_NAMES)}
_TITLES = {"precision": "&Precision", "vram_mode": "GPU &Memory", "accelerate": "&Acceleration"}


class RunSettings(QObject):
    """Adds the Precision and GPU Memory submenus to ``menu`` and keeps their choices.

    Args:
        settings: Where the choices are remembered (``run/precision``, ``run/vram_mode``).
        menu: The Run menu.
    """

    def __init__(self, settings: QSettings, menu: QMenu, parent: QObject | None = None,
                 document: Callable[[], Document | None] = lambda: None) -> None:
        super().__init__(parent)
        self.settings, self.document = settings, document
        self.actions: dict[str, dict[str, QAction]] = {}
        self.menus: dict[str, QMenu] = {}
        menu.addSeparator()
        for name, choices in _CHOICES.items():
            saved = str(settings.value(f"run/{name}", "auto"))
            current = saved if saved in choices else "auto"
            submenu = self.menus[name] = menu.addMenu(_TITLES[name])
            group = QActionGroup(submenu)
            group.setExclusive(True)
            self.actions[name] = {}
            for choice in choices:
                action = QAction(_LABELS[name][choice], submenu, checkable=True)
                action.setChecked(choice == current)
                action.triggered.connect(lambda _on=False, n=name, c=choice: self._chose(n, c))
                group.addAction(action)
                submenu.addAction(action)
                self.actions[name][choice] = action
        accelerate = self.menus["accelerate"]
        accelerate.addSeparator()
        self.use_as_default = accelerate.addAction("Use as This Workflow's &Default")
        self.use_as_default.setToolTip("Save the checked acceleration in the open workflow: "
                                       "\"The workflow's setting\" runs it with that")
        self.use_as_default.triggered.connect(self._use_as_default)
        accelerate.aboutToShow.connect(self.refresh)
        self.refresh()

    def _chose(self, name: str, choice: str) -> None:
        self.settings.setValue(f"run/{name}", choice)
        self.refresh()

    def refresh(self) -> None:
        """Show the open workflow's acceleration default on "auto", and offer to make the
        checked choice its default when it is another."""
        document = self.document()
        own = workflow_accelerate(document.root.metadata) if document is not None else "off"
        self.actions["accelerate"]["auto"].setText(f"The workflow's setting ({own})")
        checked = self.value("accelerate")
        self.use_as_default.setEnabled(document is not None and checked not in ("auto", own))

    def _use_as_default(self) -> None:
        document, mode = self.document(), self.value("accelerate")
        if document is not None and mode != "auto":
            set_workflow_accelerate(document, mode)
        self.refresh()

    def value(self, name: str) -> str:
        """The checked choice of ``name`` ("precision" or "vram_mode")."""
        return next(c for c, a in self.actions[name].items() if a.isChecked())

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``RunOptions``; torch keeps one core for the window."""
        from pipelines.speed.threads import default_threads

        options: dict[str, Any] = {name: self.value(name) for name in _CHOICES}
        if options["accelerate"] == "auto":
            options["accelerate"] = None  # the workflow's own default
        return options | {"threads": default_threads("gui")}


def set_workflow_accelerate(document: Document, mode: str) -> None:
    """Make ``mode`` the acceleration default of ``document``'s workflow, as one undo step
    (off, the default anyway, removes the entry)."""
    def change(_graph: object) -> None:
        metadata = document.root.metadata  # the workflow's, also from inside a subgraph
        if mode == "off":
            metadata.pop("accelerate", None)
        else:
            metadata["accelerate"] = mode

    if mode not in ACCELERATE_NAMES:
        raise ValueError(f"Unknown acceleration {mode!r}")
    document.edit(f"acceleration default: {mode}", change)
