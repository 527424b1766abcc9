"""VAE nodes: latents to pixels and back."""

from __future__ import annotations

from app.engine.declaration import Link, Output, node
from app.engine.types import IMAGE, LATENT, VAE


@node(
    "vae.decode",
    title="VAE Decode",
    category="vae",
    description="Decode a latent into an image with the autoencoder.",
    inputs=[Link("latent", LATENT), Link("vae", VAE)],
    outputs=[Output("image", IMAGE)],
)
def vae_decode(ctx, latent, vae):
    from pipelines.vae import decode

    return decode(vae, latent)


@node(
    "vae.encode",
    title="VAE Encode",
    category="vae",
    description="Encode an image into the latent space (for img2img).",
    inputs=[Link("image", IMAGE), Link("vae", VAE)],
    outputs=[Output("latent", LATENT)],
)
def vae_encode(ctx, image, vae):
    from pipelines.vae import encode

    return encode(vae, image)
