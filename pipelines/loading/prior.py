"""Load an unCLIP prior folder (Kandinsky 2.2's ``KandinskyV22PriorPipeline`` layout) as a
``Prior`` plus the ``ClipVision`` encoder it carries, each component with its own class (the
family allows no other), never through a saved pipeline class."""

from __future__ import annotations

from pathlib import Path

import torch

from pipelines.errors import ModelLoadError
from pipelines.families import folder_family, get_family
from pipelines.loading.components import load_family_components, read_json
from pipelines.values import ClipVision, Prior


def load_prior(path: str | Path, device: str | torch.device = "cpu",
               dtype: torch.dtype | None = None) -> tuple[Prior, ClipVision]:
    """A prior folder: prior/, text_encoder/, tokenizer/, image_encoder/, image_processor/,
    scheduler/ (offline).

    Raises:
        ModelLoadError: missing, not a prior folder, or a broken component; names the file.
    """
    folder = Path(path)
    if not (folder / "model_index.json").is_file():
        raise ModelLoadError(folder, "Not a prior folder (no model_index.json).",
                             hint="Pick a Kandinsky 2.2 prior folder.")
    try:
        family = get_family(folder_family(folder))
    except ValueError as exc:
        raise ModelLoadError(folder / "model_index.json", f"Its {exc}.") from exc
    if family.denoiser != "prior":
        raise ModelLoadError(folder, f"This is a {family.label or 'checkpoint'}, not a prior.",
                             hint="Load it with Load Checkpoint.")
    dtypes = dict.fromkeys(("denoiser", "text_encoder", "vae"), dtype or torch.float32)
    parts = load_family_components(folder, read_json(folder / "model_index.json"), family, dtypes)
    for name in ("prior", "text_encoder", "image_encoder"):
        parts[name].to(device)
    scheduler = read_json(folder / "scheduler" / "scheduler_config.json")
    prior = Prior(prior=parts["prior"], text_encoder=parts["text_encoder"],
                  tokenizer=parts["tokenizer"], image_encoder=parts["image_encoder"],
                  image_processor=parts["image_processor"], scheduler_config=scheduler,
                  source=str(folder))
    vision = ClipVision(image_encoder=parts["image_encoder"],
                        image_processor=parts["image_processor"], source=str(folder))
    return prior, vision
