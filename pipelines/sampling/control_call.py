"""One ControlNet or ControlNet-Union call of a denoising step, as diffusers' ControlNet
pipelines make it: the residuals times the strength, in guess mode (soft weights) scaled by
``logspace(-1, 0)`` from the first residual to the middle one (``ControlNetModel.forward``).

A ControlNet-Union (``ControlNetUnionModel``, xinsir's ControlNet++) is told which kind of hint
it gets: a one-hot control type and its index, per hint, as
``StableDiffusionXLControlNetUnionPipeline`` with one control image per net
(``MultiControlNetUnionModel``'s ``from_multi`` call: the strength scales the residuals).
"""

from __future__ import annotations

from typing import Any

import torch

from pipelines.errors import StudioError
from pipelines.values import ControlNet


def union_type_error(control: ControlNet) -> StudioError:
    return StudioError(f"{control.source}: a ControlNet-Union needs to know what its hint is: "
                       "put a Set Union ControlNet Type node between Load ControlNet and Apply "
                       "ControlNet")


def controlnet_residuals(
    control: ControlNet, sample: torch.Tensor, t: Any, states: torch.Tensor,
    pixels: torch.Tensor, strength: float, guess_mode: bool,
    added: dict[str, torch.Tensor] | None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The down residuals and the middle residual of one ControlNet call on ``sample``."""
    net = control.network
    kwargs: dict[str, Any] = {"guess_mode": guess_mode, "return_dict": False}
    if added is not None:
        kwargs["added_cond_kwargs"] = added
    if control.kind == "controlnet_union":
        if control.union_type is None:
            raise union_type_error(control)
        kinds = int(net.config.num_control_type)
        one_hot = torch.zeros(kinds).scatter_(0, torch.tensor([control.union_type]), 1)
        kwargs.update(controlnet_cond=[pixels], control_type_idx=[control.union_type],
                      from_multi=True, control_type=one_hot.reshape(1, -1).to(
                          device=sample.device, dtype=states.dtype).repeat(sample.shape[0], 1))
    else:
        kwargs["controlnet_cond"] = pixels
    down, mid = net(sample, t, encoder_hidden_states=states, conditioning_scale=strength,
                    **kwargs)
    return list(down), mid
