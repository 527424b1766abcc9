"""``main.py serve``: the address rules, and the real entry point answering requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_another_address_needs_listen(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--listen" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_serve_starts_and_requires_its_token(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "STUDIO_SERVER_TOKEN": "tok"}
    proc = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "data"), "--input-dir", str(tmp_path / "in"), "--out",
         str(tmp_path / "out"), "--device", "cpu"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/queue"
        for _ in range(600):  # the import takes seconds on a busy machine
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stdout.read() if proc.stdout else "serve exited")
                time.sleep(0.1)
        assert _status(url) == 401
        assert _status(url, {"Authorization": "Bearer tok"}) == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "token required" in out and "Traceback" not in out
    assert (tmp_path / "in").is_dir()
