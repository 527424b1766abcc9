"""Model file nodes: a separate VAE, and LoRAs stacked on a model and its text encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Link, Output, String, node
from node_api.ports import CLIP, MODEL, VAE
from nodes._models import load_settings, model_fingerprint, resolve_model

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel, TextEncoder, Vae


@node(
    "loaders.vae",
    title="Load VAE",
    category="loaders",
    description="Load an autoencoder from the vae folder, to use instead of the checkpoint's.",
    inputs=[
        String("vae", "", kind="model:vae",
               description="VAE file (.safetensors) or diffusers vae folder, or a path."),
        Choice("scaling", "auto", choices=("auto", "sd", "sdxl", "sd3", "flux"),
               description="Latent scaling (files do not record it): SD 1.x/2.x 0.18215, "
               "SDXL 0.13025; 16-channel VAEs: SD3 or Flux (ae.safetensors). auto picks "
               "SDXL when the name contains 'xl', SD3 for a 16-channel one named 'sd3', "
               "else Flux."),
    ],
    outputs=[Output("vae", VAE, "The autoencoder between pixels and latents.")],
    fingerprint=model_fingerprint("vae", "vae"),
)
def load_vae(ctx: NodeContext, vae: str, scaling: str) -> Vae:
    from pipelines.loading.cached import load_vae_cached

    return load_vae_cached(resolve_model(vae, "vae"), scaling=scaling, **load_settings(ctx))


@node(
    "loaders.lora",
    title="Load LoRA",
    category="loaders",
    description="Apply a LoRA to a model and its text encoder; chain several to stack them. "
    "Without a text encoder linked, only the model is changed (its clip output stays empty).",
    inputs=[
        Link("model", MODEL),
        Link("clip", CLIP, optional=True),
        String("lora", "", kind="model:loras", description="LoRA file in the loras folder."),
        Float("strength_model", 1.0, min=-4.0, max=4.0, step=0.05,
              description="How strongly the LoRA changes the denoising network."),
        Float("strength_clip", 1.0, min=-4.0, max=4.0, step=0.05,
              description="How strongly the LoRA changes the text encoder."),
    ],
    outputs=[
        Output("model", MODEL, "The model with the LoRA applied (the input is unchanged)."),
        Output("clip", CLIP, "The text encoder with the LoRA applied."),
    ],
    fingerprint=model_fingerprint("lora", "loras"),
)
def load_lora(
    ctx: NodeContext, model: DiffusionModel, clip: TextEncoder | None, lora: str,
    strength_model: float, strength_clip: float
) -> tuple[DiffusionModel, TextEncoder]:
    from pipelines.loading.lora import apply_lora, read_lora

    path = resolve_model(lora, "loras")
    new_model, new_clip = apply_lora(model, clip, read_lora(path), strength_model,
                                     strength_clip, source=str(path))
    # without a text encoder in, none comes out (ComfyUI's LoraLoaderModelOnly has no such
    # output, so imports never link it)
    return new_model, cast("TextEncoder", new_clip)
