"""The status bar: run status and progress, and the device with its memory in use.

The device probe and the model warm-up run on one background thread started after the window
first shows, so neither the window's start nor the first run waits for torch to import.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

MEMORY_REFRESH_MS = 3000


class StudioStatus(QObject):
    """Builds the status bar widgets and keeps the device/memory label current.

    Args:
        bar: the window's status bar.
        device: the run device setting ("auto", "cpu", "cuda", ...).

    Signals:
        device_found(str): the probe's description of the device (on the GUI thread).
        loading(str): what the warm-up is importing now ("" when it is done).
        warmed(): the model stack is imported; a first run will not import it.
    """

    device_found = Signal(str, str)
    loading = Signal(str)
    warmed = Signal()

    def __init__(self, bar: QStatusBar, device: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_status = QLabel("ready")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(False)
        self.device_label = QLabel(f"device: {device}")
        self.device_label.setToolTip("Run device; memory in use: this process (RAM) or the "
                                     "GPU allocator (VRAM) / total")
        # what a cold start is busy with, so a first run never looks frozen
        self.startup = QLabel("")
        self.startup.setObjectName("startup_status")
        self.startup.setToolTip("The first start imports torch and the model libraries in the "
                                "background; a run started meanwhile begins once they are in")
        self.startup.hide()
        self.phase, self.run_waiting = "", False
        bar.addWidget(self.run_status, 1)
        bar.addPermanentWidget(self.startup)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.device_label)
        self.setting = device
        self.device = device if device != "auto" else "cpu"  # until the probe says otherwise
        self.description = f"device: {device}"
        self.ready = False
        self.warm_done = threading.Event()  # also set when no warm-up is asked for
        self.device_found.connect(self._on_found)
        self.warmed.connect(self._on_warmed)
        self.loading.connect(self._on_loading)
        self.timer = QTimer(self)
        self.timer.setInterval(MEMORY_REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        """Rewrite the device label with the current memory use (cheap: no torch import)."""
        from app.gui.device import memory_text

        memory = memory_text(self.device)
        self.device_label.setText(f"{self.description} · {memory}" if memory
                                  else self.description)

    def probe(self, warm: bool = True) -> None:
        """Describe the device, then (``warm``) import the model stack, on a daemon thread."""

        def work() -> None:
            from app.gui.device import LOADING_TORCH, describe_device, resolve_device, warm_up
            from app.gui.plain_import import plain_imports

            try:  # this thread imports without PySide's hook (~150 MB less: plain_import)
                with plain_imports():
                    self.loading.emit(LOADING_TORCH)  # describing the device imports it
                    self.device_found.emit(describe_device(), resolve_device())
                    if warm:
                        warm_up(self.loading.emit)
            except Exception as exc:  # noqa: BLE001 (no torch: the window still edits)
                self.device_found.emit(f"device unknown ({exc})", "cpu")
            finally:
                self.warm_done.set()
                self.loading.emit("")
                self.warmed.emit()

        threading.Thread(target=work, name="device-probe", daemon=True).start()

    def _on_found(self, description: str, kind: str) -> None:
        if self.setting == "auto" or self.setting.startswith(kind):
            self.device, self.description = kind, description
        self.refresh()

    def _on_warmed(self) -> None:
        self.ready = True

    def _on_loading(self, phase: str) -> None:
        self.phase = phase
        self._show_startup()

    def run_started(self, running: bool) -> None:
        """A run that starts before the warm-up is done waits for it: say so."""
        self.run_waiting = running and not self.warm_done.is_set() and bool(self.phase)
        self._show_startup()

    def _show_startup(self) -> None:
        text = self.phase
        if text and self.run_waiting:
            text += " the run starts when this is done"
        self.startup.setText(text)
        self.startup.setVisible(bool(text))
