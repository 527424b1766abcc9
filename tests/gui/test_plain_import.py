"""The warm-up imports the heavy stack without PySide6's import hook (which keeps the source of
every module imported after it, ~150 MB for torch and transformers) and puts the hook back."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from app.gui import plain_import

ROOT = Path(__file__).resolve().parents[2]

# A fresh process, as the studio starts: app.gui before PySide6, then the status bar's real
# probe thread (device description + warm-up of torch and the model libraries).
_PROBE = r"""
import builtins, linecache, sys
from app.gui import plain_import
assert plain_import.is_builtin_import(plain_import.ORIGINAL_IMPORT)
from PySide6.QtWidgets import QApplication, QStatusBar
app = QApplication([])
pyside_hook = builtins.__import__
assert not plain_import.is_builtin_import(pyside_hook)
through_hook, through_original = [], []
def hook(name, *args):
    through_hook.append(name)
    return pyside_hook(name, *args)
hook.__name__ = pyside_hook.__name__  # a recorder in PySide's place
def original(name, *args):
    through_original.append(name)
    return _saved(name, *args)
_saved = plain_import.ORIGINAL_IMPORT
plain_import.ORIGINAL_IMPORT = original
builtins.__import__ = hook
from app.gui import device
device.WARM_MODULES = ("torch", "pipelines.image")
device.WARM_CLASSES = (("transformers", ("CLIPTextModel",)),)
from app.gui.status import StudioStatus
status = StudioStatus(QStatusBar(), "auto")
status.probe()
assert status.warm_done.wait(600)
sources = [f for f in linecache.cache if "/torch/" in f or "/transformers/" in f]
print("restored", builtins.__import__ is hook)
print("torch_via_original", sum(n.startswith("torch") for n in through_original))
print("transformers_via_original", sum(n.startswith("transformers") for n in through_original))
print("heavy_via_hook", sum(n.startswith(("torch", "transformers")) for n in through_hook))
print("heavy_sources_read", len(sources))
"""


def test_the_probe_imports_torch_through_the_original_import_and_restores_the_hook():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = dict(line.split() for line in done.stdout.splitlines() if line.count(" ") == 1)
    assert seen["restored"] == "True"  # PySide's hook (here wrapped by the recorder) is back
    assert int(seen["torch_via_original"]) > 50  # torch's own nested imports
    assert int(seen["transformers_via_original"]) > 10
    assert seen["heavy_via_hook"] == "0"
    # torch reads ~20 of its own files (config modules, custom ops); the hook read ~2,300
    assert int(seen["heavy_sources_read"]) < 200


def _module(folder: Path, name: str, body: str = "") -> None:
    (folder / f"{name}.py").write_text(body, encoding="utf-8")


def test_only_the_plain_thread_bypasses_the_hook(tmp_path, monkeypatch):
    """While a thread imports plainly, another thread's imports still go through the hook;
    afterwards the hook is back."""
    _module(tmp_path, "plain_outer_mod", "import plain_inner_mod\n")
    _module(tmp_path, "plain_inner_mod")
    _module(tmp_path, "hooked_outer_mod", "import hooked_inner_mod\n")
    _module(tmp_path, "hooked_inner_mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("plain_outer_mod", "plain_inner_mod", "hooked_outer_mod", "hooked_inner_mod"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    real = plain_import.ORIGINAL_IMPORT
    via_hook: list[str] = []
    via_original: list[str] = []

    def hook(name: str, *args: Any) -> Any:
        via_hook.append(name)
        return real(name, *args)

    def original(name: str, *args: Any) -> Any:
        via_original.append(name)
        return real(name, *args)

    hook.__name__ = "__feature_import__"  # stands for PySide's
    monkeypatch.setattr(plain_import, "ORIGINAL_IMPORT", original)
    monkeypatch.setattr(builtins, "__import__", hook)
    inside, release = threading.Event(), threading.Event()

    def plain_thread() -> None:
        with plain_import.plain_imports():
            import plain_outer_mod  # noqa: F401

            inside.set()
            release.wait(30)

    worker = threading.Thread(target=plain_thread)
    worker.start()
    assert inside.wait(30)
    assert builtins.__import__ is not hook  # the dispatcher stands in meanwhile
    import hooked_outer_mod  # noqa: F401  (this thread, during the plain block)

    release.set()
    worker.join(30)
    assert builtins.__import__ is hook
    assert "plain_inner_mod" in via_original and "plain_inner_mod" not in via_hook
    assert "plain_outer_mod" in via_original
    assert "hooked_inner_mod" in via_hook and "hooked_inner_mod" not in via_original


def test_another_import_hook_is_left_alone(tmp_path, monkeypatch):
    """Only PySide's hook is bypassed: a tracer's still sees the block's imports."""
    _module(tmp_path, "traced_mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "traced_mod", raising=False)
    real, traced = plain_import.ORIGINAL_IMPORT, []

    def tracer(name: str, *args: Any) -> Any:
        traced.append(name)
        return real(name, *args)

    monkeypatch.setattr(builtins, "__import__", tracer)
    with plain_import.plain_imports():
        assert builtins.__import__ is tracer
        import traced_mod  # noqa: F401
    assert builtins.__import__ is tracer and "traced_mod" in traced


_FEATURES = r"""
import sys, threading
from app.gui import plain_import
from PySide6.QtCore import QObject
inside, release = threading.Event(), threading.Event()
def warm():
    with plain_import.plain_imports():
        inside.set()
        release.wait(60)
threading.Thread(target=warm).start()
assert inside.wait(60)
import snake_mod  # imported through the dispatcher, on this (the GUI) thread
release.set()
print("snake_case", snake_mod.OK, "camelCase here", hasattr(QObject(), "setObjectName"))
"""


def test_a_module_selecting_pyside_features_keeps_them_during_the_warm_up(tmp_path):
    """PySide's hook tells which module imports by its caller's frame: a module importing
    ``from __feature__ import snake_case`` on the GUI thread meanwhile still gets it (and
    only it)."""
    _module(tmp_path, "snake_mod", "from __feature__ import snake_case  # noqa\n"
            "from PySide6.QtCore import QObject\n"
            "o = QObject()\no.set_object_name('x')\nOK = o.object_name() == 'x'\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    script = tmp_path / "features.py"  # a file: under -c PySide treats __main__ differently
    script.write_text(_FEATURES, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["snake_case", "True", "camelCase", "here", "True"]
