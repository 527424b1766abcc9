"""How strongly an IP-Adapter acts in each cross-attention layer, and how several reference
images combine into one, as ComfyUI_IPAdapter_plus defines them (``CrossAttentionPatch.py``,
``IPAdapterPlus.ipadapter_execute``):

- ``weight_type`` gives a factor per layer: layers are numbered in the UNet's forward order
  (down blocks' attentions, the middle one, up blocks'), ``t_idx`` of ``layers`` (16 for SD 1.x,
  11 for SDXL); "ease in" fades from the first layer to the last, "weak input" is 0.2 in the
  down blocks, "style transfer" / "composition" keep only the layers InstantStyle names (the
  SDXL set for an SDXL adapter: one with a layer "101"), others get 0;
- ``combine_embeds`` merges the images' CLIP embeddings before the projection (concat keeps
  them as one longer prompt); the negative becomes the first image's.

The "precise" weight types and "style and composition" need per-layer embeddings or a second
image, which diffusers' processors cannot take: they are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch-free at import: the node declarations read the names below
    import torch

WEIGHT_TYPES = ("linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input",
                "weak output", "weak middle", "strong middle", "style transfer", "composition",
                "strong style transfer")
COMBINE = ("concat", "add", "subtract", "average", "norm average")
_BLOCKS = {"down_blocks": (0, "input"), "mid_block": (1, "middle"), "up_blocks": (2, "output")}


def _layer(name: str) -> tuple[int, int, int]:
    """(block kind, block, attention) of a processor name (``up_blocks.1.attentions.2...``)."""
    parts = name.split(".")
    kind = _BLOCKS[parts[0]][0]
    if parts[0] == "mid_block":
        return kind, 0, int(parts[2])
    return kind, int(parts[1]), int(parts[3])


def _style_layers(sdxl: bool, kind: str) -> dict[int, float]:
    if kind == "style transfer":
        return {6: 1.0} if sdxl else dict.fromkeys((0, 1, 2, 3, *range(9, 16)), 1.0)
    if kind == "composition":
        return {3: 1.0} if sdxl else {4: 0.25, 5: 1.0}
    keep = (0, 1, 2, *range(4, 11)) if sdxl else (0, 1, 2, 3, *range(6, 16))
    return dict.fromkeys(keep, 1.0)  # strong style transfer


def layer_factors(names: list[str], weight_type: str, sdxl: bool) -> dict[str, float]:
    """The factor of the weight in each cross-attention processor ``names`` (attn2 ones).

    Raises:
        ValueError: a weight type not supported here.
    """
    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight type {weight_type!r} is not supported here (supported: "
                         f"{', '.join(WEIGHT_TYPES)})")
    order = sorted({_layer(n) for n in names})
    layers = len(order)
    half = layers / 2
    picked = (_style_layers(sdxl, weight_type)
              if weight_type in ("style transfer", "composition", "strong style transfer")
              else None)
    factors = {}
    for name in names:
        t = order.index(_layer(name))
        block = _BLOCKS[name.split(".")[0]][1]
        factor = 1.0
        if weight_type == "ease in":
            factor = 0.05 + 0.95 * (1 - t / layers)
        elif weight_type == "ease out":
            factor = 0.05 + 0.95 * (t / layers)
        elif weight_type == "ease in-out":
            factor = 0.05 + 0.95 * (1 - abs(t - half) / half)
        elif weight_type == "reverse in-out":
            factor = 0.05 + 0.95 * (abs(t - half) / half)
        elif weight_type.startswith("weak ") and weight_type == f"weak {block}":
            factor = 0.2
        elif weight_type == "strong middle" and block != "middle":
            factor = 0.2
        elif picked is not None:
            factor = picked.get(t, 0.0)
        factors[name] = factor
    return factors


def combine_embeds(embeds: torch.Tensor, negative: torch.Tensor,
                   how: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``embeds``/``negative`` [1, images, ...] with the images merged into one by ``how``.

    Raises:
        ValueError: an unknown method.
    """
    import torch

    if how not in COMBINE:
        raise ValueError(f"combine_embeds {how!r} is not one of {', '.join(COMBINE)}")
    images = embeds[0]
    if how == "concat" or images.shape[0] < 2:
        return embeds, negative
    if how == "add":
        merged = images.sum(dim=0)
    elif how == "subtract":
        merged = images[0] - images[1:].mean(dim=0)
    elif how == "average":
        merged = images.mean(dim=0)
    else:  # norm average: each image over the norm across images, as IPAdapter_plus
        merged = (images / torch.norm(images, dim=0, keepdim=True)).mean(dim=0)
    return merged[None, None], negative[:, :1]


def is_sdxl_adapter(ip_adapter: dict[str, torch.Tensor]) -> bool:
    """IPAdapter_plus's rule: an SDXL adapter has 70 cross-attention layers (keys to 139)."""
    return "101.to_k_ip.weight" in ip_adapter
