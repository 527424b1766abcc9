"""Before Qt opens a window on Linux: is its X11 platform plugin loadable? (no Qt import)

When a system library of Qt's xcb plugin is missing (libxcb-cursor0 on a fresh Ubuntu), Qt
prints a long "could not load the Qt platform plugin" report and aborts. The studio checks the
plugin's libraries first and prints one line naming the package to install instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# library file -> the Debian/Ubuntu package that provides it
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def package_for(library: str) -> str:
    """The package to install for a missing ``library`` (a good guess when not listed)."""
    if library in PACKAGES:
        return PACKAGES[library]
    match = re.fullmatch(r"(lib[\w+-]+?)\.so\.(\d+)", library)
    if match:  # libxcb-foo.so.1 -> libxcb-foo1, the Debian naming rule
        name, version = match.groups()
        return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"
    return library


def missing_from_ldd(text: str) -> list[str]:
    """Libraries that ``ldd`` reports as "not found", once each, in order."""
    found = re.findall(r"^\s*(\S+)\s+=>\s+not found", text, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin (found without importing Qt)."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt/plugins/platforms/libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_from_ldd(out.stdout)


def explain(missing: list[str]) -> str:
    """The one line printed for ``missing`` libraries."""
    packages = " ".join(dict.fromkeys(package_for(lib) for lib in missing))
    what = "library" if len(missing) == 1 else "libraries"
    verb, it = ("is", "it") if len(missing) == 1 else ("are", "them")
    return (f"error: Qt cannot open a window: the system {what} {', '.join(missing)} of its "
            f"X11 platform plugin {verb} missing; install {it} (Debian/Ubuntu: sudo apt install "
            f"{packages}), or render without a window: main.py --screenshot out.png")


def platform_problem(environ: dict[str, str] | None = None) -> str | None:
    """One line saying why Qt's platform plugin would fail to load here, else None."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform not in ("", "xcb") or (not platform and env.get("WAYLAND_DISPLAY")):
        return None  # offscreen, wayland, ...: not the xcb plugin
    if not env.get("DISPLAY"):
        return ("error: no display to open a window on (DISPLAY is not set); run the studio "
                "in a desktop session, or render without a window: main.py --screenshot out.png")
    plugin = xcb_plugin()
    missing = missing_libraries(plugin) if plugin else []
    return explain(missing) if missing else None
