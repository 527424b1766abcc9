"""Kandinsky 2.2 (an open DALL-E 2 / unCLIP): a **prior** turns text into a CLIP image
embedding, and a **decoder** UNet conditioned on that embedding (``addition_embed_type ==
"image"``, no text cross-attention) denoises MoVQ latents, which a VQModel decodes unscaled.

Two families: ``kandinsky22`` is the decoder folder (unet/, movq/, scheduler/), loaded by the
ordinary checkpoint loader and sampled by the ordinary Sampler; ``kandinsky22_prior`` is the
prior folder (prior/, text_encoder/, tokenizer/, image_encoder/, image_processor/, scheduler/),
loaded by ``pipelines.loading.prior``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.base import Component, LatentFormat, ModelFamily

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel

# MoVQ latents go to the UNet as they are (the pipeline never scales them).
MOVQ_LATENT = LatentFormat(channels=4, scaling_factor=1.0, spatial_factor=8)
# An unCLIP prior's parts, shared with Karlo's cascade (families/karlo.py): the prior
# transformer, and the CLIP text encoder with projection whose states it reads.
PRIOR = Component("prior", ("diffusers.PriorTransformer",), "denoiser")
PRIOR_TEXT = (
    Component("text_encoder", ("transformers.CLIPTextModelWithProjection",), "text_encoder"),
    Component("tokenizer", ("transformers.CLIPTokenizer", "transformers.CLIPTokenizerFast"),
              "tokenizer"),
)


class Kandinsky22(ModelFamily):
    id = "kandinsky22"
    label = "Kandinsky 2.2 decoder"
    components = (
        Component("unet", ("diffusers.UNet2DConditionModel",), "denoiser"),
        Component("movq", ("diffusers.VQModel",), "vae"),
        Component("scheduler", ("diffusers.*",), "scheduler"),
    )
    vae = "movq"
    vae_scaling_from_config = False  # the pipeline decodes latents unscaled
    vae_decode_options = (("force_not_quantize", True),)
    text_encoders = ()
    latent = MOVQ_LATENT
    native_size = 768
    default_cfg = 4.0
    default_steps = 50

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return denoiser_config.get("addition_embed_type") == "image"

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        """``added_cond_kwargs={"image_embeds": [negative, positive]}``, no text states.

        Raises:
            ValueError: a conditioning without an image embedding (a text prompt's).
        """
        import torch

        from pipelines.families.unet import batched

        def image_embeds(cond: Conditioning | None, what: str) -> torch.Tensor:
            embeds = None if cond is None else cond.extras.get("image_embeds")
            if embeds is None:
                raise ValueError(f"The {what} conditioning has no image embedding: this decoder "
                                 "needs one (Image Embedding Conditioning from a prior or a "
                                 "CLIP Vision Encode)")
            return batched(embeds, x.shape[0], f"{what} image embedding")

        embeds = image_embeds(positive, "positive")
        if cfg_batch:
            embeds = torch.cat([image_embeds(negative, "negative"), embeds])
        dtype = self.denoiser_dtype(model)
        return {"encoder_hidden_states": None, "return_dict": False,
                "added_cond_kwargs": {"image_embeds": embeds.to(x.device, dtype)}}

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        """The noise prediction; the learned-variance channels the UNet also returns are
        dropped, as the pipeline drops them for schedulers without learned variance. ``x``
        comes in ``denoiser_dtype`` (asking ``unet.dtype`` here would walk every submodule
        each step)."""
        out = model.denoiser(x, t, **inputs)[0]
        return out[:, : x.shape[1]]

    def scheduler_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The decoder samples with fixed variance (the variance channels are dropped)."""
        if str(config.get("variance_type", "")).startswith("learned"):
            return {**config, "variance_type": "fixed_small"}
        return config


class Kandinsky22Prior(ModelFamily):
    id = "kandinsky22_prior"
    label = "Kandinsky 2.2 prior"
    denoiser = "prior"
    components = (
        PRIOR,
        *PRIOR_TEXT,
        Component("image_encoder", ("transformers.CLIPVisionModelWithProjection",),
                  "text_encoder"),
        Component("image_processor", ("transformers.CLIPImageProcessor*",), "tokenizer"),
        Component("scheduler", ("diffusers.UnCLIPScheduler",), "scheduler"),
    )
    vae = ""  # not a checkpoint: the Load Prior node loads it
    text_encoders = (("tokenizer", "text_encoder"),)
    default_cfg = 4.0
    default_steps = 25
    detection_note = "a prior: load it with Load Prior"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return denoiser_config.get("_class_name") == "PriorTransformer"
