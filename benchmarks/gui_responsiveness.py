"""How long the GUI event loop is ever blocked while the studio runs a workflow.

Runs the default workflow on a tiny random SD model (built offline in a temp folder, in a
subprocess so that this process starts as cold as the real app) in the real window, with a
5 ms QTimer on the GUI thread, and prints the worst and typical gaps between its ticks: while
the window warms up (device probe + model-stack import on a background thread), then per run.
``--cold`` skips the warm-up, so the first run imports torch/diffusers itself.
Usage: ``python benchmarks/gui_responsiveness.py [--steps N] [--runs N] [--cold]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--runs", type=int, default=2, help="runs; later ones hit the cache")
    parser.add_argument("--cold", action="store_true", help="no warm-up after the window shows")
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.files import DEFAULT_WORKFLOW
    from app.gui.main_window import MainWindow

    scratch = Path(tempfile.mkdtemp(prefix="gui-bench-"))
    model = scratch / "tiny"
    root = str(Path(__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from pipelines.testing.tiny import build_tiny_sd; build_tiny_sd(sys.argv[2])",
                    root, str(model)], check=True, capture_output=True)
    assert "torch" not in sys.modules, "the benchmark must start without torch imported"
    doc = json.loads(DEFAULT_WORKFLOW.read_text())
    for node in doc["nodes"]:
        if node["type"] == "loaders.checkpoint":
            node["values"]["checkpoint"] = str(model)
        if node["type"] == "sampling.sampler":
            node["values"]["steps"] = args.steps
    workflow = scratch / "bench.json"
    workflow.write_text(json.dumps(doc))

    app = QApplication.instance() or QApplication([])
    window = MainWindow(settings=QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat),
                        data_dir=scratch, output_dir=scratch / "out", probe_device=not args.cold)
    window.ask_save = lambda: "discard"
    window.files.open(workflow)

    last_event = ["-"]  # what the worker reported last: where a long gap happened
    window.runner.event.connect(lambda e: last_event.__setitem__(0, _describe(e)))

    def measure(label: str, start: object, busy: object) -> None:
        gaps: list[int] = []
        worst = [0, "-"]
        clock = QElapsedTimer()
        timer = QTimer()
        timer.setInterval(5)

        def tick() -> None:
            gaps.append(clock.restart())
            if len(gaps) > 1 and gaps[-1] > worst[0]:
                worst[:] = [gaps[-1], last_event[0]]

        timer.timeout.connect(tick)
        clock.start()
        timer.start()
        started = time.perf_counter()
        start()
        while busy():
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        ticks = gaps[1:] or [0]
        print(f"{label} in {time.perf_counter() - started:.2f} s; event-loop gaps over "
              f"{len(ticks)} ticks: worst {max(ticks)} ms, median "
              f"{statistics.median(ticks):.0f} ms, p99 "
              f"{sorted(ticks)[int(0.99 * (len(ticks) - 1))]} ms; worst after: {worst[1]}")

    if args.cold:
        window.show()
    else:
        measure("startup warm-up (window shown, torch/diffusers importing)", window.show,
                lambda: not window.status.ready)
    for run in range(1, args.runs + 1):
        if not window.run_workflow():
            print("the workflow did not start; see", window.messages.texts()[-3:])
            return 1
        measure(f"run {run}", lambda: None, lambda: window.runner.running)
        result = window.runner.last_result
        print(f"  {result.status}, {window.preview.frames} preview frames so far")
    window.close()
    return 0


def _describe(event: object) -> str:
    extra = getattr(event, "title", "") or getattr(event, "step", "")
    return f"{type(event).__name__} {extra}".strip()


if __name__ == "__main__":
    sys.exit(main())
