"""Load an unCLIP prior folder (Kandinsky 2.2's ``KandinskyV22PriorPipeline`` layout) as a
``Prior`` plus the ``ClipVision`` encoder it carries, each component with its own class (the
family allows no other), never through a saved pipeline class."""

from __future__ import annotations

from pathlib import Path

import torch

from pipelines.loading.components import load_side_folder, read_json
from pipelines.values import ClipVision, Prior


def load_prior(path: str | Path, device: str | torch.device = "cpu",
               dtype: torch.dtype | None = None) -> tuple[Prior, ClipVision]:
    """A prior folder: prior/, text_encoder/, tokenizer/, image_encoder/, image_processor/,
    scheduler/ (offline).

    Raises:
        ModelLoadError: missing, not a prior folder, or a broken component; names the file.
    """
    folder, parts = load_side_folder(
        path, device, dtype, lambda family: family.denoiser == "prior", "a prior",
        pick="Pick a Kandinsky 2.2 prior folder.", instead="Load it with Load Checkpoint.")
    scheduler = read_json(folder / "scheduler" / "scheduler_config.json")
    prior = Prior(prior=parts["prior"], text_encoder=parts["text_encoder"],
                  tokenizer=parts["tokenizer"], image_encoder=parts["image_encoder"],
                  image_processor=parts["image_processor"], scheduler_config=scheduler,
                  source=str(folder))
    vision = ClipVision(image_encoder=parts["image_encoder"],
                        image_processor=parts["image_processor"], source=str(folder))
    return prior, vision
