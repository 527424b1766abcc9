"""Load a Karlo (``UnCLIPPipeline``) folder as a ``Prior`` and an ``UnclipDecoder``, each
component with its own class: diffusers' own ``UnCLIPPipeline.from_pretrained`` cannot reload
a saved one (``UnCLIPTextProjModel`` is not exported), ``pipelines.loading.components`` can."""

from __future__ import annotations

from pathlib import Path

import torch

from pipelines.loading.components import load_side_folder, read_json
from pipelines.values import Prior, UnclipDecoder


def load_unclip(path: str | Path, device: str | torch.device = "cpu",
                dtype: torch.dtype | None = None) -> tuple[Prior, UnclipDecoder]:
    """Raises: ModelLoadError: missing, not an unCLIP folder, or a broken component."""
    folder, parts = load_side_folder(
        path, device, dtype, lambda family: family.id == "karlo", "an unCLIP (Karlo)",
        pick="Pick a Karlo (UnCLIPPipeline) folder.",
        instead="Load it with Load Checkpoint or Load Prior.")

    def scheduler(name: str) -> dict:
        return read_json(folder / name / "scheduler_config.json")

    prior = Prior(prior=parts["prior"], text_encoder=parts["text_encoder"],
                  tokenizer=parts["tokenizer"], image_encoder=None, image_processor=None,
                  scheduler_config=scheduler("prior_scheduler"), source=str(folder))
    decoder = UnclipDecoder(
        decoder=parts["decoder"], text_proj=parts["text_proj"],
        text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
        super_res_first=parts["super_res_first"], super_res_last=parts["super_res_last"],
        decoder_scheduler_config=scheduler("decoder_scheduler"),
        super_res_scheduler_config=scheduler("super_res_scheduler"), source=str(folder))
    return prior, decoder
