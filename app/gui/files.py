"""Workflow files for the window: open, save, recent files, autosave and dropped files."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from app.engine.graph import Graph
from app.engine.workflow import WorkflowError, save_workflow
from app.gui.document import Document
from app.interop.open import carries_workflow, import_warnings, open_workflow

RECENT_LIMIT = 10
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_WORKFLOW = RESOURCES / "workflows" / "default.json"


class WorkflowFiles(QObject):
    """File operations on a Document, remembering recent files in QSettings.

    Signals:
        message(level, text): something to show the user (errors are never raised).
        recent_changed()
    """

    message = Signal(str, str)
    recent_changed = Signal()

    def __init__(self, document: Document, settings: QSettings, data_dir: Path,
                 autosave_ms: int = 60_000, autosave_name: str = "autosave.json",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.settings = settings
        self.data_dir = data_dir
        self.autosave_name = autosave_name
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(autosave_ms)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # -- open / save -------------------------------------------------------------------
    def new(self) -> None:
        self.document.load(Graph(), None)

    def open(self, path: Path) -> bool:
        """Load ``path`` (.json or a PNG saved by the app); reports errors as messages."""
        try:
            graph = open_workflow(path, self.document.registry, strict=False)
        except WorkflowError as exc:
            self.message.emit("error", str(exc))
            return False
        is_template = path.resolve() == DEFAULT_WORKFLOW.resolve()
        is_image = path.suffix.lower() in IMAGE_SUFFIXES
        self.document.load(graph, None if is_template or is_image else path,
                           source=path if is_image else None)
        if not is_template:
            self.remember(path)
        unknown = sorted({n.type for n in graph.nodes.values() if n.type not in
                          self.document.registry})
        if unknown:
            self.message.emit("warning", f"{path.name}: unknown node type(s) {', '.join(unknown)}")
        for line in import_warnings(graph):  # a broken branch, muted so the rest runs
            self.message.emit("warning", f"{path.name}: {line}")
        self.message.emit("info", f"opened {path}")
        return True

    def save(self, path: Path | None = None) -> bool:
        """Save to ``path`` (default: the document's own file); False when there is none."""
        target = path or self.document.path
        if target is None:
            return False
        if target.suffix.lower() != ".json":
            target = target.with_suffix(".json")
        try:
            save_workflow(self.document.root, target)
        except OSError as exc:
            self.message.emit("error", f"{target}: cannot save ({exc.strerror or exc})")
            return False
        except WorkflowError as exc:
            self.message.emit("error", str(exc))
            return False
        self.document.mark_saved(target)
        self.remember(target)
        self.message.emit("info", f"saved {target}")
        return True

    def open_startup(self) -> None:
        """Open the last workflow the user had open, else the default workflow."""
        last = self.settings.value("files/last")
        for candidate in (Path(last) if last else None, DEFAULT_WORKFLOW):
            if candidate is not None and candidate.is_file() and self.open(candidate):
                return

    # -- recent ------------------------------------------------------------------------
    def recent(self) -> list[Path]:
        raw = self.settings.value("files/recent") or []
        if isinstance(raw, str):
            raw = [raw]
        return [Path(p) for p in raw if p]

    def remember(self, path: Path) -> None:
        text = str(path.resolve())
        items = [text] + [str(p) for p in self.recent() if str(p) != text]
        self.settings.setValue("files/recent", items[:RECENT_LIMIT])
        self.settings.setValue("files/last", text)
        self.recent_changed.emit()

    # -- autosave ----------------------------------------------------------------------
    @property
    def autosave_path(self) -> Path:
        return self.data_dir / self.autosave_name

    def autosave(self) -> Path | None:
        """Write the unsaved document for crash recovery; None when there was no need."""
        if not self.document.dirty:
            return None
        try:
            save_workflow(self.document.root, self.autosave_path)
        except (OSError, WorkflowError):
            return None
        self.settings.setValue("files/autosave_time", time.time())
        return self.autosave_path

    def discard_autosave(self) -> None:
        self.autosave_path.unlink(missing_ok=True)

    def recover(self, path: Path | None = None, keep_path: Path | None = None) -> bool:
        """Load the autosave (``path``, default this document's) after a crash, as an
        unsaved document (of file ``keep_path`` when the tab had one)."""
        try:
            graph = open_workflow(path or self.autosave_path, self.document.registry,
                                  strict=False)
        except WorkflowError:
            return False
        self.document.load(Graph(), None)
        before = self.document.graph.copy()
        self.document.graph = graph
        self.document._commit("recover", before, "reset")
        if keep_path is not None:  # still unsaved: saving writes to its file again
            self.document.path = keep_path
            self.document.path_changed.emit(keep_path)
        self.message.emit("info", "recovered the unsaved workflow from the last session")
        return True

    # -- drops -------------------------------------------------------------------------
    def drop(self, paths: list[Path], position: tuple[float, float]) -> None:
        """A PNG or WebP with a workflow (ours, ComfyUI's, AUTOMATIC1111's) opens it, another
        image becomes a Load Image node, a .json opens as a workflow."""
        x, y = position
        for path in paths:
            suffix = path.suffix.lower()
            if suffix == ".json":
                self.open(path)
            elif suffix in IMAGE_SUFFIXES:
                if carries_workflow(path):
                    self.open(path)
                elif "image.load" in self.document.registry:
                    self.document.add_node("image.load", (x, y), values={"path": str(path)})
                    x, y = x + 30, y + 30
            else:
                self.message.emit("warning", f"{path.name}: not a workflow or an image")


def opens_as_workflow(path: Path) -> bool:
    """Dropping or opening ``path`` replaces the workflow (a .json, a PNG or WebP with one:
    ours, ComfyUI's or AUTOMATIC1111's)."""
    return path.suffix.lower() == ".json" or carries_workflow(path)
