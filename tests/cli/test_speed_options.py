"""run/batch speed options: previews only when asked, --threads, --accelerate, and the
workflow's own acceleration default."""

from __future__ import annotations

import pytest

from app.cli.main import build_parser
from app.cli.run import wants_previews
from app.cli.speed import speed_options
from app.engine.run_settings import run_options
from node_api.context import RunOptions


def _args(*extra: str):
    return build_parser().parse_args(["run", "w.json", *extra])


def test_the_cli_computes_previews_only_when_asked():
    assert not wants_previews(_args())  # the progress bars would not show them
    assert wants_previews(_args("--previews"))
    assert wants_previews(_args("--preview-vae-every", "4"))
    assert not wants_previews(_args("--no-previews"))


def test_threads_and_accelerate_flags():
    options = speed_options(_args("--threads", "3", "--accelerate", "max"))
    assert options == {"threads": 3, "accelerate": "max"}
    default = speed_options(_args())
    assert default["threads"] >= 1 and default["accelerate"] is None
    batch = build_parser().parse_args(["batch", "w.json", "--threads", "1"])
    assert speed_options(batch)["threads"] == 1
    with pytest.raises(SystemExit):
        _args("--threads", "-2")
    with pytest.raises(SystemExit):
        _args("--accelerate", "turbo")


def test_the_workflow_default_applies_unless_the_run_says(monkeypatch):
    import torch

    assert run_options(RunOptions(), {"accelerate": "compile"}).accelerate == "compile"
    assert run_options(RunOptions(), {}).accelerate == "off"
    assert run_options(RunOptions(), {"accelerate": "bogus"}).accelerate == "off"
    assert run_options(RunOptions(accelerate="off"), {"accelerate": "max"}).accelerate == "off"
    before = torch.get_num_threads()
    try:
        run_options(RunOptions(threads=2), {})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
