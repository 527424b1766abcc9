"""An animated file written by Save Animated shows in the gallery (its first frame)."""

from __future__ import annotations

from pathlib import Path

from nodes._animated import save_animated
from tests.nodes.test_save_animated import _frames


def test_the_gallery_shows_an_animated_file(qtbot, tmp_path):
    from app.gui.gallery import GalleryPanel

    path: Path = save_animated(_frames(), tmp_path, "g", None, "webp", 6.0)
    gallery = GalleryPanel()
    qtbot.addWidget(gallery)
    pixmap = gallery.add_image(None, str(path))
    assert pixmap is not None and (pixmap.width(), pixmap.height()) == (24, 16)
