"""A preprocessor node shows its hint image on the canvas after a run (as Save / Preview nodes
show theirs), so the user sees what steers the picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")
pytest.importorskip("NodeGraphQt")

from app.engine.registry import default_registry  # noqa: E402
from tests.gui.conftest import close_window, drag_link, open_window, wait_run  # noqa: E402


@pytest.fixture()
def studio(qtbot, tmp_path: Path):
    """The studio over the real node catalog (the hint nodes)."""
    win = open_window(qtbot, tmp_path, default_registry())
    yield win
    close_window(qtbot, win)


def test_canny_node_shows_its_edges(studio, qtbot, tmp_path):
    picture = np.zeros((64, 64, 3), dtype=np.uint8)
    picture[16:48, 16:48] = 255
    path = tmp_path / "square.png"
    Image.fromarray(picture).save(path)
    load = studio.canvas.add_node("image.load", (0, 0))
    canny = studio.canvas.add_node("hints.canny", (300, 0))
    show = studio.canvas.add_node("image.preview", (600, 0))
    studio.document.set_value(load, "path", str(path))
    drag_link(studio, load, "image", canny, "image")
    drag_link(studio, canny, "image", show, "image")
    assert studio.canvas.view_node(canny).view.preview_item is None
    assert studio.run_workflow()
    wait_run(qtbot, studio)
    thumb = studio.canvas.view_node(canny).view.preview_item
    assert thumb is not None and thumb.isVisible()
    image = thumb.pixmap().toImage()
    assert image.width() == image.height() > 0  # scaled to the thumbnail size
    scale = image.width() / 64

    def value(x: float, y: float) -> int:
        return image.pixelColor(int(x * scale), int(y * scale)).value()

    # the edges, not the picture: black inside the square, white on its outline
    assert value(32, 32) == 0 and value(4, 4) == 0
    assert max(value(x / 4, 32) for x in range(14 * 4, 19 * 4)) > 200
