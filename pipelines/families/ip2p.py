"""InstructPix2Pix (SD 1.x): a UNet with 8 input channels, the noisy latent and the VAE latent
of the image being edited, concatenated every step (ComfyUI's ``SD15_instructpix2pix``,
diffusers' StableDiffusionInstructPix2PixPipeline).

The image latent travels on the conditioning (``extras["concat_latent_image"]``, as the
Instruct Pix2Pix Conditioning node puts it: the VAE's own latent, unscaled, as both ComfyUI and
diffusers feed it); a conditioning without one gets zeros. With CFG each branch sees its own
conditioning's image, which is ComfyUI's CFG and diffusers' three-branch guidance at
``image_guidance_scale`` 1. ``extras["image_cfg"]`` other than 1 runs diffusers' third branch
(negative prompt, no image) and folds it into the two the loop guides, so the loop's
``u + cfg * (c - u)`` equals diffusers' ``U + cfg * (T - I) + image_cfg * (I - U)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipelines.families.sd import SD1, _context_dim

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel

CONCAT_KEY = "concat_latent_image"
IMAGE_CFG_KEY = "image_cfg"
_IMAGE, _IMAGE_CFG, _BATCH = "ip2p_image", "ip2p_image_cfg", "ip2p_batch"


class SD1InstructPix2Pix(SD1):
    id = "sd1_ip2p"
    label = "InstructPix2Pix (SD 1.x)"
    variant_of = "sd1"
    input_channels = 8
    detection_note = "edits an image: use Instruct Pix2Pix Conditioning"
    # SD 1.x's file layout; its text keys name SD 1.x, refined here by the input channels
    single_file = replace(SD1.single_file, text_signatures=())

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (_context_dim(denoiser_config) == 768
                and denoiser_config.get("in_channels") == self.input_channels)

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return False  # told apart from SD 1.x by its input channels (``variant_of``)

    def matches_unet_file(self, context_dim: int) -> bool:
        return False

    def denoiser_in_channels(self, model: DiffusionModel) -> int:
        return model.latent_channels  # the image half is this family's own business

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        import torch  # families are read without torch (``main.py nodes``)

        inputs = super().denoiser_inputs(model, context, positive, negative, x, cfg_batch, cfg)
        dtype = self.denoiser_dtype(model)
        pos = _image(positive, x).to(dtype)
        inputs[_IMAGE] = torch.cat([_image(negative, x).to(dtype), pos]) if cfg_batch else pos
        image_cfg = positive.extras.get(IMAGE_CFG_KEY)
        inputs[_IMAGE_CFG] = 1.0 if image_cfg is None or not cfg_batch else float(image_cfg)
        inputs[_BATCH] = x.shape[0]
        return inputs

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        import torch

        rest = dict(inputs)
        image, image_cfg, batch = rest.pop(_IMAGE), rest.pop(_IMAGE_CFG), rest.pop(_BATCH)
        if image_cfg == 1.0:
            return model.denoiser(torch.cat([x, image], dim=1), t, **rest)[0]
        if "down_block_additional_residuals" in rest:  # residuals of a two-branch batch
            from pipelines.errors import StudioError

            raise StudioError("Instruct Pix2Pix Conditioning: an image_cfg other than 1 does "
                              "not work with ControlNets; set image_cfg to 1")
        # diffusers' order: [text + image, negative + image, negative + no image]
        x_neg, x_pos = x[:batch], x[batch:]
        img_neg, img_pos = image[:batch], image[batch:]
        context = rest["encoder_hidden_states"]
        ctx_neg, ctx_pos = context[:batch], context[batch:]
        rest["encoder_hidden_states"] = torch.cat([ctx_pos, ctx_neg, ctx_neg])
        three = torch.cat([torch.cat([x_pos, x_neg, x_neg]),
                           torch.cat([img_pos, img_neg, torch.zeros_like(img_neg)])], dim=1)
        text, with_image, plain = model.denoiser(three, t, **rest)[0].chunk(3)
        shift = (image_cfg - 1.0) * (with_image - plain)
        return torch.cat([with_image + shift, text + shift])


def _image(conditioning: Conditioning | None, x: torch.Tensor) -> torch.Tensor:
    """The conditioning's image latent at ``x``'s size and batch (zeros when it has none)."""
    import torch
    import torch.nn.functional as F

    image = None if conditioning is None else conditioning.extras.get(CONCAT_KEY)
    if image is None:
        return torch.zeros_like(x)
    image = image.to(device=x.device, dtype=torch.float32)
    if image.shape[-2:] != x.shape[-2:]:
        image = F.interpolate(image, size=x.shape[-2:], mode="bilinear")
    if image.shape[0] != x.shape[0]:
        times = -(-x.shape[0] // image.shape[0])
        image = image.repeat(times, 1, 1, 1)[: x.shape[0]]
    return image
