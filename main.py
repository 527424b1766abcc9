"""Diffusion Studio entry point: `python main.py` opens the window; subcommands run headless."""

from __future__ import annotations

import sys

from app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
