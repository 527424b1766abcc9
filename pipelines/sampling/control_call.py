"""One ControlNet or ControlNet-Union call of a denoising step, as diffusers' ControlNet
pipelines make it: the residuals times the strength, in guess mode (soft weights) scaled by
``logspace(-1, 0)`` from the first residual to the middle one (``ControlNetModel.forward``).

A ControlNet-Union (``ControlNetUnionModel``, xinsir's ControlNet++) is told which kind of hint
it gets: a one-hot control type and its index, per hint, as
``StableDiffusionXLControlNetUnionPipeline`` with one control image per net
(``MultiControlNetUnionModel``'s ``from_multi`` call: the strength scales the residuals).

A Union net with no type ("auto", ComfyUI's default: no SetUnionControlNetType or type
"auto") runs as ComfyUI's ``ControlNet.forward`` with an empty ``control_type``: the control
type embedding of an all-zero vector joins the time embedding, and the hint, through the
net's hint encoder alone (no task embedding, no transformer fusion), is added to the first
convolution's output as in a plain ControlNet. diffusers has no such mode (its pipeline needs
a ``control_mode``); a hook on ``conv_in`` adds the hint for that one call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from pipelines.values import ControlNet


@contextlib.contextmanager
def _hint_after_conv_in(net: Any, pixels: torch.Tensor) -> Iterator[None]:
    """While inside: ``net.conv_in``'s output plus the hint through the hint encoder."""
    def add_hint(_module: Any, _args: Any, output: torch.Tensor) -> torch.Tensor:
        return output + net.controlnet_cond_embedding(pixels)

    handle = net.conv_in.register_forward_hook(add_hint)
    try:
        yield
    finally:
        handle.remove()


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
    scale: float | list[float] = strength
    hint_hook: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if control.kind == "controlnet_union":
        one_hot = torch.zeros(int(net.config.num_control_type))
        if control.union_type is None:  # "auto": no hints for the fusion, the hook adds it
            kwargs.update(controlnet_cond=[], control_type_idx=[])
            scale, hint_hook = [strength], _hint_after_conv_in(net, pixels)
        else:
            one_hot.scatter_(0, torch.tensor([control.union_type]), 1)
            kwargs.update(controlnet_cond=[pixels], control_type_idx=[control.union_type])
        kwargs.update(from_multi=True, control_type=one_hot.reshape(1, -1).to(
            device=sample.device, dtype=states.dtype).repeat(sample.shape[0], 1))
    else:
        kwargs["controlnet_cond"] = pixels
    with hint_hook:
        down, mid = net(sample, t, encoder_hidden_states=states, conditioning_scale=scale,
                        **kwargs)
    return list(down), mid
