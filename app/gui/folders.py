"""Where file dialogs start: the folder the user last chose for that kind of file, else
Pictures (images) or Documents (workflows), else home; never the install folder (the current
directory of a launcher)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

_STANDARD = {
    "image": QStandardPaths.StandardLocation.PicturesLocation,
    "workflow": QStandardPaths.StandardLocation.DocumentsLocation,
}
_settings: list[QSettings] = []  # the window's settings (tests give a temp INI file)


def use_settings(settings: QSettings) -> None:
    """Remember the chosen folders in ``settings`` (set by the window)."""
    _settings[:] = [settings]


def start_folder(kind: str) -> str:
    """The folder a dialog for ``kind`` ("workflow", "image", "model") opens in."""
    if _settings:
        last = _settings[0].value(f"folders/{kind}")
        if last and Path(str(last)).is_dir():
            return str(last)
    location = _STANDARD.get(kind)
    if location is not None:
        standard = QStandardPaths.writableLocation(location)
        if standard and Path(standard).is_dir():
            return standard
    return str(Path.home())


def remember_folder(kind: str, chosen: str | Path) -> None:
    """Note the folder of a file (or the folder) the user chose in a dialog."""
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    if _settings and folder.is_dir():
        _settings[0].setValue(f"folders/{kind}", str(folder))
