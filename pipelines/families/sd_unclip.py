"""Stable Diffusion 2.1 unCLIP (Stable unCLIP, ``StableUnCLIPImg2ImgPipeline``): an SD2 model
whose UNet also takes a CLIP image embedding, noise-augmented, as its class label
(``class_embed_type="projection"``, twice the embedding width: the embedding and its noise
level's embedding). Text states as SD2 (OpenCLIP, last layer); the image comes through
unCLIP Conditioning (``pipelines.sampling.unclip_adm``). The folder's
``image_noising_scheduler`` and ``image_normalizer`` are read into ``DiffusionModel.extras``.
Single files (``sd21-unclip-h.ckpt`` / ``-l``, the original layout) are told from SD2 by their
``embedder.model.visual.`` (the CLIP vision tower) and ``noise_augmentor.`` tensors; their
UNet, VAE and OpenCLIP text encoder load as SD2's (``pipelines.loading.single_file``), the
noise augmentation from ``pipelines.loading.sd_unclip``, the vision tower through Load unCLIP
Checkpoint (``pipelines.loading.open_clip_vision``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.families.base import ModelFamily, SingleFileLayout, named_function
from pipelines.families.sd import SD_LATENT

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel


class SD21UnCLIP(ModelFamily):
    id = "sd21_unclip"
    label = "Stable Diffusion 2.1 unCLIP"
    latent = SD_LATENT
    native_size = 768
    default_cfg = 10.0  # the pipeline's default guidance
    default_steps = 20
    detection_note = ("an image-variation model: give it an image through CLIP Vision Encode "
                      "and unCLIP Conditioning")

    single_file = SingleFileLayout(
        template="sd21-unclip", open_clip_prefix="cond_stage_model.model.",
        open_clip_extra_layer=True, text_signatures=("embedder.model.visual.", "noise_augmentor."),
    )

    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        return (denoiser_config.get("class_embed_type") == "projection"
                and bool(denoiser_config.get("projection_class_embeddings_input_dim")))

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        return context_dim == 1024 and label_width is not None  # SD2 + an image embedding

    def read_extras(self, folder: Path) -> dict[str, Any]:
        return named_function("pipelines.loading.sd_unclip", "read_noise_augmentation")(folder)

    def read_file_extras(self, state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
        return named_function("pipelines.loading.sd_unclip", "file_noise_augmentation")(
            state, path)

    def seeded_inputs(self, model: DiffusionModel, positive: Conditioning,
                      negative: Conditioning | None, generator: Any, batch: int,
                      cfg_batch: bool, device: torch.device) -> dict[str, Any]:
        """``class_labels``: the noise-augmented image embeddings (zeros for a conditioning
        without one, as the pipeline's negative), their noise drawn first."""
        class_labels = named_function("pipelines.sampling.unclip_adm", "class_labels")
        width = int(model.denoiser.config.projection_class_embeddings_input_dim)
        labels = class_labels(positive, negative, batch, cfg_batch, width, generator,
                              model.extras)
        return {"class_labels": labels.to(device=device, dtype=model.denoiser.dtype)}
