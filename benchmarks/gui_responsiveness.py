"""How long the GUI event loop is ever blocked while the studio runs a workflow.

Runs the default workflow on a tiny random SD model (built offline in a temp folder) in the
real window, with a 5 ms QTimer on the GUI thread, and prints the worst and typical gaps
between its ticks. Usage: ``python benchmarks/gui_responsiveness.py [--steps N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.files import DEFAULT_WORKFLOW
    from app.gui.main_window import MainWindow
    from pipelines.tiny import build_tiny_sd

    scratch = Path(tempfile.mkdtemp(prefix="gui-bench-"))
    model = build_tiny_sd(scratch / "tiny")
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
                        data_dir=scratch, output_dir=scratch / "out", probe_device=False)
    window.ask_save = lambda: "discard"
    window.show()
    window.files.open(workflow)

    for run in range(1, args.runs + 1):
        gaps: list[int] = []
        clock = QElapsedTimer()
        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda g=gaps, c=clock: g.append(c.restart()))
        clock.start()
        timer.start()
        started = time.perf_counter()
        if not window.run_workflow():
            print("the workflow did not start; see", window.messages.texts()[-3:])
            return 1
        while window.runner.running:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        result = window.runner.last_result
        ticks = gaps[1:] or [0]
        print(f"run {run}: {result.status} in {time.perf_counter() - started:.2f} s, "
              f"{window.preview.frames} preview frames so far; event-loop gaps over "
              f"{len(ticks)} ticks: worst {max(ticks)} ms, median "
              f"{statistics.median(ticks):.0f} ms, p99 "
              f"{sorted(ticks)[int(0.99 * (len(ticks) - 1))]} ms")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
