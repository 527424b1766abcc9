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
        from app.gui.main_window import run_app

        return run_app(workflow=args.workflow)
    except ImportError as exc:
        print(f"error: the desktop window cannot start ({exc}); "
              f"headless commands still work: python main.py run WORKFLOW", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
