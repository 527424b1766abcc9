"""Graphs built in code: the standard text-to-image chain, wired once for every caller
(A1111 parameter import, test fixtures, benchmarks)."""

from __future__ import annotations

from typing import Any

from app.engine.graph import Graph
from app.engine.registry import Registry

TXT2IMG_EDGES: tuple[tuple[str, str, str, str], ...] = (
    ("1", "model", "6", "model"), ("1", "clip", "2", "clip"), ("1", "clip", "3", "clip"),
    ("2", "conditioning", "6", "positive"), ("3", "conditioning", "6", "negative"),
    ("4", "latent", "6", "latent"), ("5", "noise", "6", "noise"), ("6", "latent", "7", "latent"),
    ("1", "vae", "7", "vae"), ("7", "image", "8", "image"),
)


def txt2img(
    registry: Registry,
    *,
    checkpoint: str = "demo",
    prompt: str = "",
    negative: str = "",
    width: int = 512,
    height: int = 512,
    seed: int = 0,
    sampler: dict[str, Any] | None = None,
    output: str = "image.save",
    metadata: dict[str, Any] | None = None,
) -> Graph:
    """Load Checkpoint -> Text Encode (+/-) -> Empty Latent + Noise -> Sampler -> VAE Decode ->
    ``output``. Node ids "1".."8" in that order (1 loader, 2/3 prompts, 4 latent, 5 noise,
    6 sampler, 7 decode, 8 output).

    Args:
        registry: Node types.
        checkpoint: Model name or path.
        prompt, negative: The two prompts.
        width, height: Image size in pixels.
        seed: Noise seed.
        sampler: Values for the Sampler node (sampler, schedule, steps, cfg, denoise).
        output: Type of the last node ("image.save" or "image.preview").
        metadata: Graph metadata.

    Returns:
        A new graph.
    """
    g = Graph(metadata=metadata or {})
    add = g.add
    add("loaders.checkpoint", registry=registry, node_id="1", position=(0, 0),
        values={"checkpoint": checkpoint})
    add("conditioning.text_encode", registry=registry, node_id="2", title="Positive Prompt",
        values={"text": prompt}, position=(320, -120))
    add("conditioning.text_encode", registry=registry, node_id="3", title="Negative Prompt",
        values={"text": negative}, position=(320, 120))
    add("latent.empty", registry=registry, node_id="4", position=(320, 320),
        values={"width": width, "height": height, "batch_size": 1})
    add("sampling.noise", registry=registry, node_id="5", title="Noise", position=(320, 480),
        values={"seed": seed})
    add("sampling.sampler", registry=registry, node_id="6", title="Sampler", position=(660, 0),
        values=dict(sampler or {}))
    add("vae.decode", registry=registry, node_id="7", position=(960, 0))
    add(output, registry=registry, node_id="8", position=(1220, 0))
    for edge in TXT2IMG_EDGES:
        g.connect(*edge)
    return g
