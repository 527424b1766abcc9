"""A torch-free node set for GUI tests: steps with previews, images, failures, files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from app.engine.registry import Registry
from node_api.declaration import Boolean, Choice, Float, Int, Link, Output, String, node

NUM = "LATENT"
LAST_OPTIONS: dict[str, str] = {}  # the run settings the last Render saw
TEXT = "CONDITIONING"
IMAGE = "IMAGE"


def make_registry() -> Registry:
    registry = Registry()

    @node("toy.const", title="Constant", category="latent", registry=registry,
          inputs=[Int("value", 3, min=0, max=255, description="a number")],
          outputs=[Output("out", NUM)])
    def const(ctx, value):
        return value

    @node("toy.seeded", title="Seeded", category="latent", registry=registry,
          inputs=[Int("seed", 0, min=0, max=2**32, widget="seed")],
          outputs=[Output("out", NUM)])
    def seeded(ctx, seed):
        return seed % 256

    @node("toy.int", title="Integer", category="utility", registry=registry,
          inputs=[Int("value", 2, min=0, max=500)], outputs=[Output("int", "INT")])
    def integer(ctx, value):
        return value

    @node("utility.reroute", title="Reroute", category="utility", registry=registry,
          inputs=[Link("input", "*")], outputs=[Output("output", "*")], passthrough=True)
    def reroute(ctx, input):  # noqa: A002
        return input

    @node("toy.text", title="Prompt", category="conditioning", registry=registry,
          inputs=[String("text", "hello", multiline=True),
                  Boolean("loud", False), Choice("mood", "calm", choices=("calm", "wild"))],
          outputs=[Output("out", TEXT)])
    def text(ctx, text, loud, mood):
        return text.upper() if loud else text

    @node("toy.render", title="Render", category="sampling", registry=registry,
          inputs=[Link("x", NUM), Link("prompt", TEXT, optional=True),
                  Int("steps", 4, min=1, max=500), Float("delay", 0.01, min=0.0, max=2.0)],
          outputs=[Output("image", IMAGE)])
    def render(ctx, x, prompt, steps, delay):
        import numpy as np

        LAST_OPTIONS.update(precision=ctx.options.precision, vram_mode=ctx.options.vram_mode)
        for i in range(steps):
            time.sleep(delay)
            frame = np.full((16, 16, 3), (i * 40) % 256, dtype=np.uint8)
            ctx.progress(i + 1, steps, frame)
        from PIL import Image

        return Image.new("RGB", (32, 24), (x * 20 % 256, 90, 160))

    @node("toy.fail", title="Fail", category="sampling", registry=registry,
          inputs=[Link("x", NUM)], outputs=[Output("out", NUM)])
    def fail(ctx, x):
        raise RuntimeError("the toy node broke")

    @node("toy.save", title="Save", category="image", registry=registry, is_output=True,
          inputs=[Link("image", IMAGE), String("prefix", "toy")])
    def save(ctx, image, prefix):
        from PIL.PngImagePlugin import PngInfo

        out = Path(ctx.options.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{prefix}_{len(list(out.glob('*.png'))):04d}.png"
        info = PngInfo()
        if ctx.options.workflow:
            info.add_text("workflow", json.dumps(ctx.options.workflow))
        image.save(path, pnginfo=info)
        ctx.wrote_file(path)

    @node("toy.show", title="Show", category="image", registry=registry, is_output=True,
          inputs=[Link("image", IMAGE)])
    def show(ctx, image):
        ctx.show_image(image)

    @node("image.load", title="Load Image", category="image", registry=registry,
          inputs=[String("path", "", kind="image")], outputs=[Output("image", IMAGE)])
    def load(ctx, path):
        from PIL import Image

        return Image.open(path).convert("RGB")

    return registry
