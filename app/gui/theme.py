"""A calm dark theme: the Qt palette and style sheet, and colours for categories, types, states."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = (30, 32, 36)
PANEL = (37, 40, 45)
TEXT = (214, 217, 222)
ACCENT = (94, 156, 232)

# Node body colours by category (muted, so that state borders stand out).
CATEGORY_COLOURS: dict[str, tuple[int, int, int]] = {
    "loaders": (66, 84, 120),
    "conditioning": (106, 86, 52),
    "latent": (88, 64, 112),
    "sampling": (52, 96, 84),
    "vae": (110, 62, 68),
    "image": (58, 98, 112),
    "upscale": (80, 104, 62),
    "hints": (96, 92, 58),  # preprocessors: hint images for control
    "subgraphs": (34, 112, 118),  # nodes that hold other nodes (double-click to open)
}
DEFAULT_NODE_COLOUR = (70, 74, 82)

# Port colours by link type (ComfyUI-like, so that users coming from there feel at home).
TYPE_COLOURS: dict[str, tuple[int, int, int]] = {
    "MODEL": (180, 160, 255),
    "CLIP": (255, 214, 80),
    "VAE": (255, 110, 110),
    "CONDITIONING": (255, 160, 60),
    "LATENT": (255, 120, 200),
    "NOISE": (170, 170, 170),
    "IMAGE": (100, 196, 255),
    "MASK": (120, 220, 140),
    "UPSCALE_MODEL": (170, 120, 90),
    "PRIOR": (200, 140, 255),
    "CLIP_VISION": (168, 168, 255),
    "IMAGE_EMBEDDING": (120, 160, 255),
    "UNCLIP_DECODER": (150, 130, 230),
    "IP_ADAPTER": (140, 200, 255),
    "CONTROL_NET": (0, 200, 170),
    # split sampling
    "SAMPLER": (236, 180, 180),
    "SIGMAS": (205, 255, 205),
    "GUIDER": (102, 255, 255),
}

# Node border colours for run states.
STATE_COLOURS: dict[str, tuple[int, int, int]] = {
    "idle": (46, 57, 66),
    "waiting": (120, 124, 132),
    "running": (94, 156, 232),
    "cached": (96, 170, 150),
    "done": (110, 200, 110),
    "failed": (235, 80, 80),
    "invalid": (235, 170, 60),
    "cancelled": (200, 160, 80),
    "stale": (176, 140, 220),  # a result from before the last edit
}


def category_name(category: str) -> str:
    """How a node category is shown ("vae" is an acronym .title() would spell "Vae")."""
    return {"vae": "VAE"}.get(category, category.title())


def category_colour(category: str) -> tuple[int, int, int]:
    return CATEGORY_COLOURS.get(category, DEFAULT_NODE_COLOUR)


def type_colour(type_name: str) -> tuple[int, int, int]:
    return TYPE_COLOURS.get(type_name, (200, 200, 200))


STYLE_SHEET = """
QMainWindow::separator { background: #1b1d20; width: 3px; height: 3px; }
QDockWidget { color: #d6d9de; }
QDockWidget::title { background: #2a2d32; padding: 4px 8px; }
QToolBar { background: #25282d; border: none; spacing: 4px; padding: 2px; }
QStatusBar { background: #1f2124; color: #aeb3ba; }
QListWidget, QTreeWidget, QPlainTextEdit, QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {
    background: #1e2024; border: 1px solid #3a3e45; border-radius: 3px; padding: 2px;
}
QPushButton, QToolButton { background: #33373d; border: 1px solid #454a52; border-radius: 3px;
    padding: 3px 10px; }
QPushButton:hover, QToolButton:hover { background: #3d424a; }
QPushButton:pressed, QToolButton:pressed { background: #2b2f34; }
QProgressBar { background: #1e2024; border: 1px solid #3a3e45; border-radius: 3px;
    text-align: center; height: 14px; }
QProgressBar::chunk { background: #5e9ce8; border-radius: 2px; }
QLabel#hint { color: #8a9099; }
"""


def apply_theme(app: QApplication) -> None:
    """Give ``app`` the dark Fusion palette and the studio style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: PANEL,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BACKGROUND,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: (51, 55, 61),
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: (255, 255, 255),
        QPalette.ColorRole.PlaceholderText: (120, 126, 134),
    }
    for role, rgb in roles.items():
        palette.setColor(role, QColor(*rgb))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(110, 114, 120))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
