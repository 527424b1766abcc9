"""Regenerate the README's window screenshots (``docs/screenshot_graph.png``,
``docs/screenshot_queue.png`` over the default workflow, ``docs/demo_cascade.png``: the
built-in cascade run) by driving the real window.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py [--out docs]
     [--only graph|queue|cascade]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pump(app: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def by_title(window: object, title: str) -> str:
    graph = window.document.graph  # type: ignore[attr-defined]
    return next(i for i, n in graph.nodes.items() if n.title == title)


def make_window(scratch: Path, name: str, workflow: Path | None = None) -> object:
    from PySide6.QtCore import QSettings

    from app.gui.files import DEFAULT_WORKFLOW
    from app.gui.main_window import MainWindow

    settings = QSettings(str(scratch / f"{name}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, data_dir=scratch / name,
                        output_dir=scratch / "output", device="cpu")
    window.ask_save = lambda: "discard"
    window.resize(1500, 900)
    window.show()
    assert window.files.open(workflow or DEFAULT_WORKFLOW)
    return window


def graph_shot(app: object, scratch: Path, target: Path) -> None:
    """A group around the prompts, a subgraph node, a bypassed node, the minimap."""
    from app.gui.groups import COLOURS, add_group, bounds_around
    from app.gui.subgraph_ui import collapse_nodes

    window = make_window(scratch, "graph")
    pump(app, 0.5)
    prompts = [by_title(window, "Positive Prompt"), by_title(window, "Negative Prompt")]
    rects = [window.canvas.view_node(i).view.sceneBoundingRect() for i in prompts]
    add_group(window.document, "Prompts", bounds_around(rects), COLOURS["Purple"])
    inner = [by_title(window, "Empty Latent"), by_title(window, "Noise")]
    collapse_nodes(window.document, inner, "Latent & Noise")
    window.document.toggle_mode([by_title(window, "Upscale Image")], "bypass")
    window.actions["minimap"].setChecked(True)
    window.canvas.frame_all()
    pump(app, 1.0)
    window.grab().save(str(target))
    window.close()


def queue_shot(app: object, scratch: Path, target: Path) -> None:
    """Three queued runs (batch count 3, the seed counting up), the third one sampling, the
    history of the first two, and the status line."""
    window = make_window(scratch, "queue")
    window.docks["queue"].raise_()
    window.queue_panel.batch.setValue(3)
    pump(app, 0.5)
    window.canvas.frame_all()
    assert window.run_workflow()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        pump(app, 0.05)
        done = [e for e in window.queue.entries if e.status == "done"]
        if len(done) >= 2 and window.runner.running and "step" in window.run_status.text():
            break
    pump(app, 0.3)
    window.canvas.frame_all()
    pump(app, 0.2)
    window.grab().save(str(target))
    window.queue.clear_pending()
    window.cancel_run()
    window.runner.wait(30)
    window.close()


def cascade_shot(app: object, scratch: Path, target: Path) -> None:
    """The built-in cascade (demo 64px -> demo-sr 128px) after a run on the CPU."""
    window = make_window(scratch, "cascade", ROOT / "resources" / "workflows"
                         / "demo_cascade.json")
    pump(app, 0.5)
    assert window.run_workflow()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        pump(app, 0.1)
        if any(e.status == "done" for e in window.queue.entries) and not window.runner.running:
            break
    pump(app, 1.0)
    window.canvas.frame_all()
    pump(app, 0.5)
    window.grab().save(str(target))
    window.close()


SHOTS = {"graph": (graph_shot, "screenshot_graph.png"),
         "queue": (queue_shot, "screenshot_queue.png"),
         "cascade": (cascade_shot, "demo_cascade.png")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", choices=sorted(SHOTS), default=None)
    args = parser.parse_args(argv)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.gui.theme import apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0]])
    apply_theme(app)
    scratch = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (shot, file) in SHOTS.items():
        if args.only in (None, name):
            shot(app, scratch, args.out / file)
            print(f"wrote {args.out / file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
