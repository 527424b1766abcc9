"""Karlo (kakaobrain's open unCLIP, diffusers ``UnCLIPPipeline``): DALL-E 2's cascade in
pixels. A prior turns text into a CLIP image embedding; a 64px decoder UNet with learned
variance is conditioned on it through ``UnCLIPTextProjModel`` (extra context tokens and an
additive time embedding, with a learned unconditional embedding for guidance); two
super-resolution UNets (one for every step but the last, one for the last) take it to 256px.

A saved UnCLIPPipeline does not reload in diffusers 0.42 (``UnCLIPTextProjModel`` is not
exported): ``pipelines.loading.unclip`` loads each component with its own class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.base import Component, LatentFormat, ModelFamily, named_function
from pipelines.families.kandinsky import PRIOR, PRIOR_TEXT

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel

_UNCLIP = ("diffusers.UnCLIPScheduler",)


class Karlo(ModelFamily):
    id = "karlo"
    label = "Karlo (unCLIP)"
    denoiser = "decoder"
    components = (
        PRIOR,
        Component("decoder", ("diffusers.UNet2DConditionModel",), "denoiser"),
        Component("text_proj", ("diffusers.UnCLIPTextProjModel",), "denoiser"),
        Component("super_res_first", ("diffusers.UNet2DModel",), "denoiser"),
        Component("super_res_last", ("diffusers.UNet2DModel",), "denoiser"),
        *PRIOR_TEXT,
        Component("prior_scheduler", _UNCLIP, "scheduler"),
        Component("decoder_scheduler", _UNCLIP, "scheduler"),
        Component("super_res_scheduler", _UNCLIP, "scheduler"),
    )
    vae = ""  # pixel space, not a checkpoint: the Load unCLIP node loads it
    text_encoders = (("tokenizer", "text_encoder"),)
    latent = LatentFormat(channels=3, scaling_factor=1.0, spatial_factor=1)
    native_size = 256
    default_cfg = 8.0
    default_steps = 25
    detection_note = "unCLIP cascade: load it with Load unCLIP"

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (denoiser_config.get("_class_name") == "UNet2DConditionModel"
                and denoiser_config.get("class_embed_type") == "identity")

    # --- the decoder and super-resolution stages on the common denoise loop ------------------
    # (``pipelines.sampling.unclip`` builds a ``DiffusionModel`` view of each stage)
    def make_scheduler(self, sampler: str, schedule: str, config: dict[str, Any]) -> Any:
        return named_function("pipelines.sampling.unclip_scheduler", "make_unclip_scheduler")(
            sampler, schedule, config)

    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        """Decoder: the projected text states, ``class_labels`` (the additive embedding of the
        image and prompt) and the text attention mask, [negative, positive] under guidance.
        Super-resolution: the upscaled image and the UNet of the last step."""
        import torch

        if "low_res" in positive.extras:
            return {"low_res": positive.extras["low_res"].to(x.device, x.dtype),
                    "last": positive.extras["last_unet"]}
        conds = [negative, positive] if cfg_batch else [positive]

        def both(name: str) -> torch.Tensor:
            return torch.cat([c.extras[name] for c in conds if c is not None]).to(x.device)

        return {"encoder_hidden_states": context.to(x.device, x.dtype),
                "class_labels": both("class_labels"), "attention_mask": both("attention_mask")}

    def denoiser_in_channels(self, model: DiffusionModel) -> int:
        """The sample's channels (the super-resolution UNets' image channels are added by
        ``call_denoiser``)."""
        return model.latent_channels

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        """The super-resolution UNets see the upscaled image beside the sample; the last step
        (timestep 0, a CPU tensor from the unCLIP scheduler) uses its own UNet."""
        if "low_res" in inputs:
            import torch

            unet = inputs["last"] if int(t) == 0 else model.denoiser
            return unet(torch.cat([x, inputs["low_res"]], dim=1), t).sample
        return model.denoiser(x, t, **inputs).sample
