"""How strongly an IP-Adapter acts in each cross-attention layer, and how several reference
images combine into one, as ComfyUI_IPAdapter_plus defines them (``CrossAttentionPatch.py``,
``IPAdapterPlus.ipadapter_execute``):

- ``weight_type`` gives a weight per layer: layers are numbered in the UNet's forward order
  (down blocks' attentions, the middle one, up blocks'), ``t_idx`` of ``layers`` (16 for SD 1.x,
  11 for SDXL); "ease in" fades from the first layer to the last, "weak input" is 0.2 in the
  down blocks, "style transfer" / "composition" keep only the layers InstantStyle names (the
  SDXL set for an SDXL adapter: one with a layer "101"), others get 0; "style and
  composition" gives the composition layers ``weight_composition``;
- the "precise" types also swap the embeddings in some layers (``layer_routes``): there the
  positive attends to zero tokens (no contribution) and the negative to the images' tokens,
  so guidance pushes away from what those layers carry (the composition for "style transfer
  precise", all but the composition for "composition precise"); with a composition image,
  "style and composition" reads that image's tokens in layer 3 (SDXL's composition layer);
- ``embeds_scaling`` says where the weight goes: on the attention output ("V only", as
  diffusers), on the keys and values ("K+V"), times the layer's width over 1280 ("w/ C
  penalty"), or on the keys and the values' mean over the tokens ("K+mean(V)");
- ``combine_embeds`` merges the images' CLIP embeddings before the projection (concat keeps
  them as one longer prompt); the negative becomes the first image's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch-free at import: the node declarations read the names below
    import torch

WEIGHT_TYPES = ("linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input",
                "weak output", "weak middle", "strong middle", "style transfer", "composition",
                "strong style transfer", "style and composition", "strong style and composition",
                "style transfer precise", "composition precise")
EMBEDS_SCALING = ("V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty")
COMBINE = ("concat", "add", "subtract", "average", "norm average")
_BLOCKS = {"down_blocks": (0, "input"), "mid_block": (1, "middle"), "up_blocks": (2, "output")}


def _layer(name: str) -> tuple[int, int, int]:
    """(block kind, block, attention) of a processor name (``up_blocks.1.attentions.2...``)."""
    parts = name.split(".")
    kind = _BLOCKS[parts[0]][0]
    if parts[0] == "mid_block":
        return kind, 0, int(parts[2])
    return kind, int(parts[1]), int(parts[3])


def _by_index(sdxl: bool, kind: str, w: float, c: float) -> dict[int, float] | None:
    """IPAdapter_plus's per-layer weights of the InstantStyle-like types (``c``: the
    composition weight), or None for the types that scale every layer."""
    sd_style = dict.fromkeys((0, 1, 2, 3, *range(9, 16)), w)
    if kind == "style transfer":
        return {6: w} if sdxl else sd_style
    if kind == "composition":
        return {3: w} if sdxl else {4: w * 0.25, 5: w}
    if kind == "strong style transfer":
        return dict.fromkeys((0, 1, 2, *range(4, 11)) if sdxl else (0, 1, 2, 3, *range(6, 16)), w)
    if kind in ("style and composition", "style transfer precise"):
        return {3: c, 6: w} if sdxl else {**sd_style, 4: c * 0.25, 5: c}
    if kind == "strong style and composition":
        return ({**dict.fromkeys(range(11), w), 3: c} if sdxl
                else {**dict.fromkeys(range(16), w), 4: c, 5: c})
    if kind == "composition precise":
        if sdxl:
            return {**dict.fromkeys(range(11), w * 0.1), 3: w, 6: w}
        return {**dict.fromkeys(range(16), w), 4: w * 0.25, 6: w * 0.1, 7: w * 0.1, 8: w * 0.1}
    return None


def layer_weights(names: list[str], weight_type: str, sdxl: bool, weight: float,
                  composition: float = 1.0) -> dict[str, float]:
    """The adapter's weight in each cross-attention processor ``names`` (attn2 ones);
    ``composition``: IPAdapter_plus's ``weight_composition`` (1 unless given).

    Raises:
        ValueError: a weight type not supported here.
    """
    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight type {weight_type!r} is not supported here (supported: "
                         f"{', '.join(WEIGHT_TYPES)})")
    if weight_type == "style transfer precise":
        composition = weight  # IPAdapter_plus's style_boost, which no node here sets
    order = sorted({_layer(n) for n in names})
    layers = len(order)
    half = layers / 2
    picked = _by_index(sdxl, weight_type, weight, composition)
    weights = {}
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
        weights[name] = picked.get(t, 0.0) if picked is not None else weight * factor
    return weights


def layer_factors(names: list[str], weight_type: str, sdxl: bool) -> dict[str, float]:
    """``layer_weights`` for weight 1 (and composition weight 1)."""
    return layer_weights(names, weight_type, sdxl, 1.0)


def layer_routes(names: list[str], weight_type: str, sdxl: bool,
                 alternative: bool = False) -> dict[str, str]:
    """Which embeddings each layer reads: "main", "swap" (the precise types: the positive
    none, the negative the images') or "alt" (with ``alternative``: the composition image's,
    in layer 3 for the style-and-composition types, as IPAdapter_plus's ``cond_alt``)."""
    order = sorted({_layer(n) for n in names})
    composition = {3} if sdxl else {4, 5}
    routes = {}
    for name in names:
        t = order.index(_layer(name))
        route = "main"
        if weight_type == "style transfer precise" and t in composition:
            route = "swap"
        elif weight_type == "composition precise" and t not in composition:
            route = "swap"
        if alternative and t == 3 and weight_type.endswith("style and composition"):
            route = "alt"
        routes[name] = route
    return routes


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
