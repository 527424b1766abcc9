"""Flux.1 image editing: Fill (inpainting/outpainting) and Kontext (reference images).

**Fill** (FLUX.1-Fill-dev, diffusers' ``FluxFillPipeline``): a dev transformer whose packed
input is ``[noisy latent (64), masked image latent (64), mask (256)]`` per token, 384 channels:
the mask at pixel size cut into 8x8 cells, each cell's 64 pixels one channel of its latent
pixel (``vae_scale_factor`` squared), then packed 2x2 as the latents. In the graph it is an
inpainting model: Inpaint Model Conditioning (or VAE Encode for Inpainting) gives the latent
its masked image and mask, and the common inpainting path (``pipelines.sampling.inpaint``)
asks ``inpaint_channels`` for this layout. Its files differ from dev's only by the input
width, so it is a ``variant_of`` dev told apart by ``input_channels``.

**Kontext** (FLUX.1-Kontext-dev): its weights are a dev model's (nothing in a file or config
tells it apart); its reference images are ``pipelines.families.flux_references``, read by
every Flux model as in ComfyUI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.flux import FluxDev, _is_flux

if TYPE_CHECKING:
    import torch

    from pipelines.values import DiffusionModel



def is_fill_config(config: dict[str, Any]) -> bool:
    """A Flux transformer taking more than twice its output channels: image + mask inputs."""
    out = config.get("out_channels") or config.get("in_channels") or 0
    return _is_flux(config) and int(config.get("in_channels") or 0) > 2 * int(out)


class FluxFill(FluxDev):
    id = "flux_fill"
    label = "Flux.1 Fill dev"
    variant_of = "flux_dev"
    input_channels = 384  # 64 latent + 64 masked image + 256 mask channels per token
    default_guidance = 30.0  # FluxFillPipeline's guidance_scale default
    detection_note = ("Flux Fill: inpainting and outpainting; give it the latent of Inpaint "
                      "Model Conditioning")

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return is_fill_config(denoiser_config)

    def file_kind(self, keys: Any) -> str:
        return ""  # dev's keys: refined from flux_dev by the input channels (``variant_of``)

    def inpaint_channels(self, model: DiffusionModel, mask: torch.Tensor,
                         masked: torch.Tensor) -> torch.Tensor | None:
        """[masked latent (C), mask cells (f*f)] at the latent's size: the mask resized
        (bilinear, as ComfyUI) to f times the latent and cut into f x f cells."""
        import torch.nn.functional as F

        f = model.vae_scale_factor
        h, w = masked.shape[-2:]
        if mask.shape[-2:] != (h * f, w * f):
            mask = F.interpolate(mask, size=(h * f, w * f), mode="bilinear")
        b = mask.shape[0]
        cells = mask.view(b, h, f, w, f).permute(0, 2, 4, 1, 3).reshape(b, f * f, h, w)
        import torch

        return torch.cat([masked, cells], dim=1)
