"""The Qt desktop studio: an adapter over the Qt-free engine (imported only for the window)."""

# Before any module of this package imports PySide6: save the original builtins.__import__
# for the background warm-up (see app.gui.plain_import).
from app.gui import plain_import as _plain_import  # noqa: F401
