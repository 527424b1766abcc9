"""Heavy imports on a background thread without PySide6's import hook.

Importing PySide6 replaces ``builtins.__import__`` with shiboken's ``__feature__`` hook, which
reads the source of every module imported after it (``inspect.getsource``, kept in
``linecache``) to see whether the module uses PySide6. For torch, diffusers and transformers
that is thousands of files, ~120-150 MB held for the life of the process. ``plain_imports()``
lets the calling thread import through the original function while every other thread (the
GUI thread importing a dialog meanwhile) still goes through the hook, called from a frame in
the importing module's globals, so a module selecting PySide features still gets them.

Qt-free: the original is saved when this module is first imported, which ``app.gui``'s
package init does before any module of the window imports PySide6.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

ImportFunction = Callable[..., Any]


def is_builtin_import(function: object) -> bool:
    """Whether ``function`` is the interpreter's own ``builtins.__import__``."""
    return (getattr(function, "__self__", None) is builtins
            and getattr(function, "__name__", "") == "__import__")


def is_pyside_hook(function: object) -> bool:
    """Whether ``function`` is shiboken's ``__feature__`` import hook (or stands for it)."""
    return getattr(function, "__name__", "") == "__feature_import__"


# When PySide6 was already imported (a test run with pytest-qt), importlib's pure-Python
# ``__import__`` is the same algorithm without the hook.
ORIGINAL_IMPORT: ImportFunction = (builtins.__import__ if is_builtin_import(builtins.__import__)
                                   else importlib.__import__)

_lock = threading.Lock()
_plain: dict[int, int] = {}  # thread id -> nesting depth of plain_imports() on that thread
_replaced: list[ImportFunction] = []  # the hook _dispatch stands in for, while installed


def _call(hook: ImportFunction, *args: Any) -> Any:
    return hook(*args)


def _dispatch(name: str, globals: Any = None, locals: Any = None,  # noqa: A002 (builtin's names)
              fromlist: Any = (), level: int = 0) -> Any:
    if not _replaced or threading.get_ident() in _plain:
        return ORIGINAL_IMPORT(name, globals, locals, fromlist, level)
    # PySide's hook tells the importing module by its caller frame's globals (a module's
    # ``from __feature__ import snake_case`` applies to that module): call it from a frame
    # running in the importer's globals, not this module's
    relay = types.FunctionType(_call.__code__, sys._getframe(1).f_globals)
    return relay(_replaced[0], name, globals, locals, fromlist, level)


@contextlib.contextmanager
def plain_imports() -> Iterator[None]:
    """Within the block, the calling thread imports through ``ORIGINAL_IMPORT`` (the saved
    pre-PySide ``builtins.__import__``); other threads keep PySide's hook. Where it is not
    installed (no PySide6, or another hook on top) this does nothing. On leaving, the hook is put back, unless
    something else replaced ``builtins.__import__`` meanwhile (then that is left alone)."""
    me = threading.get_ident()
    with _lock:
        current = builtins.__import__
        bypass = current is _dispatch or is_pyside_hook(current)
        if bypass:
            if current is not _dispatch:
                _replaced[:] = [current]
                builtins.__import__ = _dispatch
            _plain[me] = _plain.get(me, 0) + 1
    if not bypass:  # nothing to bypass
        yield
        return
    try:
        yield
    finally:
        with _lock:
            _plain[me] -= 1
            if not _plain[me]:
                del _plain[me]
            if not _plain and _replaced and builtins.__import__ is _dispatch:
                builtins.__import__ = _replaced.pop()
