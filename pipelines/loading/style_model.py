"""Style models as ComfyUI's StyleModelLoader reads them: Flux Redux
(``flux1-redux-dev.safetensors``: ``redux_up.*`` / ``redux_down.*``, two linear layers that turn
SigLIP image tokens into T5-wide text tokens), built as diffusers' ``ReduxImageEncoder``. The
SD 1.x T2I style adapter (``style_embedding``) is recognised and refused with a clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

_HINT = "Pick a Flux Redux file (flux1-redux-dev.safetensors) from the style_models folder."


def load_style_model(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """A ``ReduxImageEncoder`` with the file's weights, float32 on ``device``.

    Raises:
        ModelLoadError: unreadable, or not a Redux style model.
    """
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder

    from pipelines.loading.readers import read_state_dict

    path = Path(path)
    state, _ = read_state_dict(path, supported=_HINT)
    if "style_embedding" in state:
        raise ModelLoadError(path, "is an SD 1.x T2I style adapter, which is not supported "
                             "(only Flux Redux style models are)", _HINT)
    up, down = state.get("redux_up.weight"), state.get("redux_down.weight")
    if up is None or down is None or up.dim() != 2 or down.dim() != 2:
        raise ModelLoadError(path, "has no redux_up / redux_down layers (not a Redux style "
                             "model)", _HINT)
    width, image_width = int(down.shape[0]), int(up.shape[1])
    if tuple(up.shape) != (3 * width, image_width) or down.shape[1] != 3 * width:
        raise ModelLoadError(path, f"has Redux layers of shapes {list(up.shape)} and "
                             f"{list(down.shape)} that do not fit together", _HINT)
    with torch.device("meta"):
        model = ReduxImageEncoder(redux_dim=image_width, txt_in_features=width)
    missing, unexpected = model.load_state_dict(
        {k: v.float() for k, v in state.items()}, strict=False, assign=True)
    if missing or unexpected:
        raise ModelLoadError(path, f"does not fit a Redux model (missing {missing[:2]}, "
                             f"unexpected {unexpected[:2]})", _HINT)
    return model.eval().requires_grad_(False).to(device)
