"""The output gallery: thumbnails of finished images and a viewer with zoom, fit and copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)


class ImageViewer(QGraphicsView):
    """Shows one image; the wheel zooms, dragging pans; fits to the view by default."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.fitting = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self.scene().setSceneRect(self._item.boundingRect())
        if self.fitting:
            self.fit()

    def pixmap(self) -> QPixmap:
        return self._item.pixmap()

    def fit(self) -> None:
        self.fitting = True
        if not self._item.pixmap().isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        self.fitting = False
        self.resetTransform()

    def zoom(self, factor: float) -> None:
        self.fitting = False
        self.scale(factor, factor)

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: Any) -> None:
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()


class GalleryPanel(QWidget):
    """Finished images, newest first; the selected one is shown in the viewer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(QSize(96, 96))
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setMinimumWidth(120)
        self.thumbs.currentItemChanged.connect(self._show_current)
        self.viewer = ImageViewer()
        buttons = QHBoxLayout()
        for label, slot in (("Fit", self.viewer.fit), ("1:1", self.viewer.actual_size),
                            ("Copy", self.copy_current), ("Open folder", self.open_folder)):
            button = QPushButton(label)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.viewer, 1)
        right_layout.addLayout(buttons)
        split = QSplitter()
        split.addWidget(self.thumbs)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)

    def add_image(self, image: Any, path: str | None = None, label: str = "") -> QPixmap | None:
        """Add a PIL image (or a file when ``image`` is None) and show it; returns its pixmap
        (None when it could not be read)."""
        pixmap = _pil_to_pixmap(image) if image is not None else QPixmap(path or "")
        if pixmap.isNull():
            return None
        item = QListWidgetItem(QIcon(pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)),
                               label or (Path(path).name if path else "preview"))
        item.setData(Qt.ItemDataRole.UserRole, (pixmap, path))
        item.setToolTip(path or label)
        self.thumbs.insertItem(0, item)
        self.thumbs.setCurrentItem(item)
        return pixmap

    def count(self) -> int:
        return self.thumbs.count()

    def current_path(self) -> str | None:
        item = self.thumbs.currentItem()
        return item.data(Qt.ItemDataRole.UserRole)[1] if item else None

    def _show_current(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        if item is not None:
            self.viewer.set_pixmap(item.data(Qt.ItemDataRole.UserRole)[0])

    def copy_current(self) -> None:
        if not self.viewer.pixmap().isNull():
            QApplication.clipboard().setPixmap(self.viewer.pixmap())

    def open_folder(self) -> None:
        path = self.current_path()
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


def _pil_to_pixmap(image: Any) -> QPixmap:
    rgba = image.convert("RGBA")
    data = rgba.tobytes("raw", "RGBA")
    qimage = QImage(data, rgba.width, rgba.height, 4 * rgba.width, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(qimage.copy())
