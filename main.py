"""Diffusion Studio entry point: `python main.py` opens the window; subcommands run headless."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from app.cli.main import build_parser
    from app.cli.main import main as cli_main

    code = cli_main(argv)
    if code is not None:
        return code
    args = build_parser().parse_args(argv)
    try:
        if args.screenshot is not None:
            from app.gui.screenshot import take_screenshot

            return take_screenshot(args.screenshot, args.workflow)
        from app.gui.launch import run_app

        return run_app(workflow=args.workflow)
    except ImportError as exc:
        print(f"error: the desktop window cannot start ({exc}); "
              f"headless commands still work: python main.py run WORKFLOW", file=sys.stderr)
        return 2


def entry() -> int:
    """``main()``, with a Ctrl+C that arrives before a command installs its own handler
    (while the heavy modules are still importing) ending the process cleanly: exit 130,
    one line, no traceback."""
    try:
        return main()
    except KeyboardInterrupt:
        try:
            print("cancelled", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        return 130


def fast_exit(code: int) -> None:
    """End a headless run without the interpreter's teardown (a garbage collection over
    hundreds of thousands of torch/diffusers objects, seconds on a cold start): everything is
    written and flushed by now."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    code = entry()
    if sys.argv[1:2] == ["run"]:
        fast_exit(code)
    sys.exit(code)
