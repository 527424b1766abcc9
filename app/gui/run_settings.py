"""Run menu settings: weight precision and GPU memory mode, remembered between sessions.

The same choices as the command line's ``--precision`` and ``--vram``; every run started from
the window carries them in its ``RunOptions``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

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

    def __init__(self, settings: QSettings, menu: QMenu, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.actions: dict[str, dict[str, QAction]] = {}
        menu.addSeparator()
        for name, choices in _CHOICES.items():
            saved = str(settings.value(f"run/{name}", "auto"))
            current = saved if saved in choices else "auto"
            submenu = menu.addMenu(_TITLES[name])
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

    def _chose(self, name: str, choice: str) -> None:
        self.settings.setValue(f"run/{name}", choice)

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
