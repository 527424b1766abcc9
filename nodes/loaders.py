"""Loader nodes: checkpoints (diffusion model, text encoder and VAE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Output, String, node
from node_api.ports import CLIP, MODEL, VAE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel, TextEncoder, Vae


@node(
    "loaders.checkpoint",
    title="Load Checkpoint",
    category="loaders",
    description="Load a diffusion model, its text encoder and its VAE from a model folder.",
    inputs=[
        String(
            "checkpoint",
            "demo",
            kind="model:checkpoints",
            description="Model name in the model folders, or a path to a diffusers folder.",
        )
    ],
    outputs=[
        Output("model", MODEL, "The denoising network and its noise schedule."),
        Output("clip", CLIP, "The text encoder and tokenizer."),
        Output("vae", VAE, "The autoencoder between pixels and latents."),
    ],
    fingerprint=model_fingerprint("checkpoint", "checkpoints"),
)
def load_checkpoint(ctx: NodeContext, checkpoint: str) -> tuple[DiffusionModel, TextEncoder, Vae]:
    from pipelines.loading.cached import load_checkpoint_cached

    # through the process-wide model cache: switching back to a checkpoint is not a reload
    return load_checkpoint_cached(resolve_model(checkpoint, "checkpoints"), **load_settings(ctx))
