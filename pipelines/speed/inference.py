"""Networks run under ``torch.inference_mode()`` (cheaper than ``no_grad``: no version counters
or view tracking), but what a pipeline function returns must be an ordinary tensor: a later
node may change it in place or use it where autograd records, which an inference tensor
refuses outside inference mode. Where a result is still one (a ``.cpu()`` or ``.float()`` that
had nothing to do returns the tensor itself), ``ordinary`` copies it once."""

from __future__ import annotations

import torch


def ordinary(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` itself, or a copy of it if it is an inference tensor."""
    return tensor.clone() if tensor.is_inference() else tensor
