"""Reference images as extra Flux tokens (FLUX.1 Kontext, diffusers' ``FluxKontextPipeline``;
ComfyUI's ReferenceLatent): a conditioning carries reference latents (``extras[
"reference_latents"]``, model space); each is packed and appended to the latent's tokens with
its own positions (first id axis 1), and the prediction for those tokens is dropped. Several
references are placed side by side (ComfyUI's "offset" method). Any Flux model reads them, as
in ComfyUI: Kontext's weights are a dev model's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.families.flux_tokens import image_ids, pack

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning

REFERENCES_KEY = "reference_latents"  # on Conditioning.extras: a tuple of [B, C, h, w] latents
_REFERENCES = "flux_references"  # denoiser input: per CFG half, (tokens, ids) or None
_PER_HALF = ("encoder_hidden_states", "pooled_projections", "guidance")


def with_reference(cond: Conditioning, latent: torch.Tensor) -> Conditioning:
    """A copy of ``cond`` with ``latent`` (model space) appended to its reference latents on
    every entry (ComfyUI's ReferenceLatent)."""
    from dataclasses import replace

    def add(entry: Conditioning) -> Conditioning:
        refs = tuple(entry.extras.get(REFERENCES_KEY) or ()) + (latent,)
        return replace(entry, extras={**entry.extras, REFERENCES_KEY: refs})

    return cond.each(add)


def _padded(x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    return F.pad(x, (0, w % 2, 0, h % 2), mode="circular") if h % 2 or w % 2 else x


def reference_tokens(cond: Conditioning | None, batch: int, device: Any, dtype: Any
                     ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(tokens [batch, n, 4C], ids [n, 3]) of a conditioning's reference latents, or None.
    Positions: first axis 1; a second reference goes beside (or below) the first, ComfyUI's
    "offset" method (the first alone is FluxKontextPipeline's ``image_ids``)."""
    import torch

    from pipelines.families.unet import batched

    refs = None if cond is None else cond.extras.get(REFERENCES_KEY)
    if not refs:
        return None
    tokens, ids, height, width = [], [], 0, 0
    for ref in refs:
        ref = _padded(batched(ref.to(device=device, dtype=torch.float32), batch,
                              "reference latent"))
        h, w = ref.shape[-2:]
        top = left = 0
        if tokens:  # place it where it grows the canvas least
            if h + height > w + width:
                left = width
            else:
                top = height
        height, width = max(height, h + top), max(width, w + left)
        position = image_ids(h, w, device)
        position[:, 0] = 1
        position[:, 1] += top // 2
        position[:, 2] += left // 2
        tokens.append(pack(ref).to(dtype))
        ids.append(position.to(dtype))
    return torch.cat(tokens, dim=1), torch.cat(ids)


def add_references(inputs: dict[str, Any], halves: list[Conditioning | None], batch: int,
                   device: Any, dtype: Any) -> None:
    """Put the halves' reference tokens into the denoiser inputs (nothing when none has any)."""
    refs = [reference_tokens(cond, batch, device, dtype) for cond in halves]
    if any(r is not None for r in refs):
        inputs[_REFERENCES] = refs


def call_transformer(transformer: Any, tokens: torch.Tensor, timestep: torch.Tensor,
                     inputs: dict[str, Any]) -> torch.Tensor:
    """The transformer's output for the latent ``tokens``, with each CFG half's reference
    tokens appended (one call when the halves' references have the same shape, else one call
    per half) and their predictions dropped."""
    import torch

    refs = inputs.get(_REFERENCES)
    if refs is None:
        return transformer(hidden_states=tokens, timestep=timestep, **inputs)[0]
    rest = {k: v for k, v in inputs.items() if k != _REFERENCES}
    n = tokens.shape[1]
    rows = next((r[0].shape[0] for r in refs if r is not None), tokens.shape[0])
    if len(refs) * rows > tokens.shape[0]:  # one side of a pair (an area's uncond pass)
        refs = refs[: max(1, tokens.shape[0] // rows)]
    shapes = {None if r is None else tuple(r[0].shape) for r in refs}
    if len(shapes) == 1:  # every half alike: one batched call
        ref_tokens = torch.cat([r[0] for r in refs])
        rest["img_ids"] = torch.cat([rest["img_ids"], refs[0][1]])
        out = transformer(hidden_states=torch.cat([tokens, ref_tokens], dim=1),
                          timestep=timestep, **rest)[0]
        return out[:, :n]
    per = tokens.shape[0] // len(refs)
    outs = []
    for i, ref in enumerate(refs):
        part = slice(i * per, (i + 1) * per)
        half = {k: (v[part] if k in _PER_HALF and v is not None else v) for k, v in rest.items()}
        x = tokens[part]
        if ref is not None:
            x = torch.cat([x, ref[0]], dim=1)
            half["img_ids"] = torch.cat([rest["img_ids"], ref[1]])
        outs.append(transformer(hidden_states=x, timestep=timestep[part], **half)[0][:, :n])
    return torch.cat(outs)
