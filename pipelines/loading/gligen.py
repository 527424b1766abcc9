"""GLIGEN files as ComfyUI's GLIGENLoader reads them (``gligen_sd14_textbox_pruned``): the
position net (``position_net.*``) and one gated self-attention "fuser" per transformer block,
named by the original UNet layout (``input_blocks.1.1.transformer_blocks.0.fuser.*``).

``GligenWeights.installed(unet)`` gives a plain SD 1.x UNet of diffusers these layers for one
run (diffusers' ``GatedSelfAttentionDense`` and ``GLIGENTextBoundingboxProjection``, whose
weight names are ComfyUI's) and takes them away afterwards, so the shared UNet stays plain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError

_HINT = "Pick a GLIGEN file (gligen_sd14_textbox_pruned.safetensors) for an SD 1.x model."
_PREFIX = "model.diffusion_model."
_NET = "position_net."


@dataclass(eq=False)
class GligenWeights:
    """A GLIGEN file's layers: fuser weights by the original block name (``input_blocks.1.1.
    transformer_blocks.0``) and the position net's weights; float32 on the CPU."""

    fusers: dict[str, dict[str, torch.Tensor]]
    position_net: dict[str, torch.Tensor]
    source: str

    @property
    def context_dim(self) -> int:
        """The width of the phrase embeddings (768 for SD 1.x)."""
        return int(self.position_net["null_positive_feature"].shape[0])

    @contextlib.contextmanager
    def installed(self, unet: Any) -> Iterator[None]:
        """``unet`` with these GLIGEN layers for the ``with`` block (on its device and dtype).

        Raises:
            ValueError: the UNet's blocks or widths do not fit the file.
        """
        from diffusers.models.attention import BasicTransformerBlock, GatedSelfAttentionDense
        from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

        from pipelines.loading.convert import _unet_prefix_map

        parameter = next(unet.parameters())
        device, dtype = parameter.device, parameter.dtype
        to_diffusers = {o.rstrip("."): d.rstrip(".") for d, o in
                        _unet_prefix_map(dict(unet.config)).items() if ".attentions." in d}
        modules = dict(unet.named_modules())
        placed: list[tuple[Any, Any]] = []
        try:
            for name, state in self.fusers.items():
                block_name, _, rest = name.partition(".transformer_blocks.")
                target = f"{to_diffusers.get(block_name, '?')}.transformer_blocks.{rest}"
                block = modules.get(target)
                if not isinstance(block, BasicTransformerBlock):
                    raise ValueError(f"GLIGEN file {self.source}: the model has no block {name}; "
                                     "it is for another UNet (GLIGEN files are SD 1.x)")
                attention = block.attn1
                dim = state["linear.weight"].shape[0]
                fuser = GatedSelfAttentionDense(dim, self.context_dim, attention.heads,
                                                dim // attention.heads)
                _load(fuser, state, self.source, name)
                placed.append((block, getattr(block, "fuser", None)))
                block.fuser = fuser.to(device=device, dtype=dtype)
            net = GLIGENTextBoundingboxProjection(
                self.context_dim, int(self.position_net["linears.4.weight"].shape[0]))
            _load(net, self.position_net, self.source, "position_net")
            placed.append((unet, getattr(unet, "position_net", None)))
            unet.position_net = net.to(device=device, dtype=dtype)
            yield
        finally:
            for owner, old in reversed(placed):
                attribute = "position_net" if owner is unet else "fuser"
                if old is None:
                    delattr(owner, attribute)
                else:
                    setattr(owner, attribute, old)


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
          what: str) -> None:
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"GLIGEN file {source}: {what} does not fit (missing "
                         f"{', '.join(missing[:3]) or 'nothing'}; unexpected "
                         f"{', '.join(unexpected[:3]) or 'nothing'})")


def is_gligen(state: dict[str, Any]) -> bool:
    return any(k.startswith(_NET) for k in state) and any(".fuser." in k for k in state)


def load_gligen(path: str | Path) -> GligenWeights:
    """The GLIGEN layers of a file (safetensors; pickles only with plain tensors).

    Raises:
        ModelLoadError: unreadable, or not a GLIGEN file.
    """
    from pipelines.loading.readers import read_state_dict

    path = Path(path)
    state, _ = read_state_dict(path, supported=_HINT)
    state = {k.removeprefix(_PREFIX): v for k, v in state.items()}
    if not is_gligen(state):
        raise ModelLoadError(path, "has no GLIGEN layers (position_net.* and *.fuser.*)", _HINT)
    fusers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        block, found, rest = key.partition(".fuser.")
        if found:
            fusers.setdefault(block, {})[rest] = value.float()
    net = {k[len(_NET):]: v.float() for k, v in state.items() if k.startswith(_NET)}
    for needed in ("null_positive_feature", "linears.4.weight"):
        if needed not in net:
            raise ModelLoadError(path, f"has no position_net.{needed}", _HINT)
    for block, weights in fusers.items():
        if "linear.weight" not in weights:
            raise ModelLoadError(path, f"has no {block}.fuser.linear.weight", _HINT)
    return GligenWeights(fusers, net, str(path))
