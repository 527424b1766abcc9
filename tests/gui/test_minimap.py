"""The minimap: shows where the view is; a click there moves the canvas."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt

from tests.gui.conftest import build_chain


def test_clicking_the_minimap_moves_the_view(window, qtbot):
    build_chain(window)
    window.canvas.add_node("toy.const", (3000, 2000))
    minimap = window.minimap
    assert minimap.isVisible()
    far = minimap.world().bottomRight() - QPointF(60, 60)
    target = QPointF((far.x() - minimap.world().left()) * minimap._scale()[1],
                     (far.y() - minimap.world().top()) * minimap._scale()[1])
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=QPoint(int(target.x()),
                                                                      int(target.y())))
    centre = minimap.view_rect().center()
    assert abs(centre.x() - far.x()) < 200 and abs(centre.y() - far.y()) < 200
    window.actions["minimap"].setChecked(False)
    assert not minimap.isVisible()
    img = minimap.grab()
    assert not img.isNull()
