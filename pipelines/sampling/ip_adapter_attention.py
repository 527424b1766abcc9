"""The IP-Adapter attention of one cross-attention layer, with what diffusers' processor lacks
and ComfyUI_IPAdapter_plus has (``CrossAttentionPatch.ipadapter_attention``): per layer, each
adapter may read another set of image tokens (``routes``: the precise weight types' swapped
tokens, a composition image's), and its weight may scale the keys and values instead of the
output (``scaling``, IPAdapter_plus's ``embeds_scaling``).

The extra token sets come from the UNet's image projection like the adapters' own:
``RoutedProjection`` projects every entry of ``image_embeds`` with its adapter's projection
and multiplies the extra sets by per-row factors (entries after the token sets, batched like
them, so a regional run's row split keeps them aligned). With every layer on its own tokens
and "V only", the layer is diffusers' ``IPAdapterAttnProcessor2_0`` call itself.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers.image_processor import IPAdapterMaskProcessor
from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
from diffusers.models.embeddings import MultiIPAdapterImageProjection


class LayeredIPAdapterProcessor(IPAdapterAttnProcessor2_0):
    """diffusers' processor (same ``to_k_ip``/``to_v_ip`` and ``scale``) plus, per adapter,
    ``routes`` (the index of the projected token set it reads; None: its own) and
    ``scaling`` (one of ``ip_adapter_weights.EMBEDS_SCALING``); both None: diffusers' call."""

    routes: list[int] | None = None
    scaling: list[str] | None = None

    @classmethod
    def of(cls, proc: IPAdapterAttnProcessor2_0) -> LayeredIPAdapterProcessor:
        """A layered processor sharing ``proc``'s layers (nothing is copied)."""
        new = cls.__new__(cls)
        torch.nn.Module.__init__(new)
        new.hidden_size, new.cross_attention_dim = proc.hidden_size, proc.cross_attention_dim
        new.num_tokens, new.scale = proc.num_tokens, proc.scale
        new.to_k_ip, new.to_v_ip = proc.to_k_ip, proc.to_v_ip
        return new

    def __call__(self, attn: Any, hidden_states: torch.Tensor,
                 encoder_hidden_states: Any = None, attention_mask: torch.Tensor | None = None,
                 temb: torch.Tensor | None = None, scale: float = 1.0,
                 ip_adapter_masks: Any = None) -> torch.Tensor:
        if not isinstance(encoder_hidden_states, tuple) or self.scaling is None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask,
                                    temb, scale, ip_adapter_masks)
        text, tokens = encoder_hidden_states
        routes = self.routes or list(range(len(self.scale)))
        return self._scaled(attn, hidden_states, text, [tokens[r] for r in routes],
                            attention_mask, ip_adapter_masks)

    def _scaled(self, attn: Any, hidden_states: torch.Tensor, text: torch.Tensor,
                tokens: list[torch.Tensor], attention_mask: torch.Tensor | None,
                masks: Any) -> torch.Tensor:
        """diffusers' processor for the text (a cross-attention layer of a UNet block: 3-D
        states, no spatial or group norm), then each adapter with its scaling."""
        residual = hidden_states
        batch = text.shape[0]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, text.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            text = attn.norm_encoder_hidden_states(text)
        key, value = attn.to_k(text), attn.to_v(text)
        head_dim = key.shape[-1] // attn.heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(batch, -1, attn.heads, head_dim).transpose(1, 2)

        def attend(k: torch.Tensor, v: torch.Tensor, mask: Any = None) -> torch.Tensor:
            out = F.scaled_dot_product_attention(heads(query), heads(k), heads(v),
                                                 attn_mask=mask, dropout_p=0.0, is_causal=False)
            return out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)

        hidden_states = attend(key, value, attention_mask)
        masks = list(masks) if masks is not None else [None] * len(tokens)
        for index, ip in enumerate(tokens):
            weight, how = float(self.scale[index]), (self.scaling or [])[index]
            if weight == 0:
                continue
            mask = masks[index]
            if mask is None or mask.shape[1] != ip.shape[1]:  # one mask for all the tokens
                groups = [(ip, None if mask is None else mask[:, 0])]
            else:  # one mask per image, each image attended alone (as diffusers)
                groups = [(ip[:, i], mask[:, i]) for i in range(mask.shape[1])]
            for sets, image_mask in groups:
                k, v = self.to_k_ip[index](sets), self.to_v_ip[index](sets)
                k, v = k.reshape(batch, -1, k.shape[-1]), v.reshape(batch, -1, v.shape[-1])
                if how == "V only":
                    out = attend(k, v) * weight
                else:
                    w = weight * k.shape[-1] / 1280.0 if how.endswith("C penalty") else weight
                    if how.startswith("K+mean(V)"):
                        mean = v.mean(dim=1, keepdim=True)
                        v = (v - mean) + mean * w
                    else:
                        v = v * w
                    out = attend(k * w, v)
                if image_mask is not None:
                    out = out * IPAdapterMaskProcessor.downsample(
                        image_mask, batch, out.shape[1], out.shape[2]).to(out)
                hidden_states = hidden_states + out
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class RoutedProjection(MultiIPAdapterImageProjection):
    """The UNet's image projection for ``image_embeds`` = [each adapter's embeddings, then
    the extra token sets' embeddings (projected with ``owners[i]``'s layer), then one row
    factor [rows] per extra set]."""

    def __init__(self, projections: list[torch.nn.Module], owners: list[int]) -> None:
        super().__init__([*projections, *(projections[o] for o in owners)])
        self.extra = len(owners)

    def forward(self, image_embeds: list[torch.Tensor]) -> list[torch.Tensor]:
        if not self.extra:
            return super().forward(image_embeds)
        factors = image_embeds[-self.extra:]
        projected = super().forward(list(image_embeds[:-self.extra]))
        first = len(projected) - self.extra
        for offset, factor in enumerate(factors):
            tokens = projected[first + offset]
            projected[first + offset] = tokens * factor.to(tokens).view(-1, *[1] * (
                tokens.dim() - 1))
        return projected


def extra_token_sets(routes: list[dict[str, str]], uses: list[tuple[torch.Tensor, torch.Tensor,
                                                                   torch.Tensor | None]],
                     batch: int, cfg_batch: bool) -> tuple[list[torch.Tensor],
                                                          list[torch.Tensor], list[int],
                                                          dict[str, list[int]]]:
    """The extra token sets the layers' ``routes`` (per adapter, from
    ``ip_adapter_weights.layer_routes``) need, for adapters ``uses`` = (embeddings,
    negative, composition embeddings or None), each [1, images, ...].

    Returns:
        (embeddings per extra set, row factors per extra set, the adapter owning each set,
        per layer name the index of the token set each adapter reads there).
    """
    def rows(x: torch.Tensor) -> torch.Tensor:
        return x.repeat(batch, *[1] * (x.dim() - 1))

    embeds: list[torch.Tensor] = []
    factors: list[torch.Tensor] = []
    owners: list[int] = []
    where: dict[tuple[int, str], int] = {}
    for index, (positive, negative, alt) in enumerate(uses):
        kinds = set(routes[index].values())
        if "swap" in kinds:  # the negative half reads the images, the positive none
            where[index, "swap"] = len(uses) + len(owners)
            owners.append(index)
            embeds.append(torch.cat([rows(positive)] * 2) if cfg_batch else rows(positive))
            off = torch.zeros(batch)
            factors.append(torch.cat([torch.ones(batch), off]) if cfg_batch else off)
        if "alt" in kinds and alt is not None:
            where[index, "alt"] = len(uses) + len(owners)
            owners.append(index)
            alt_negative = negative[:, :1].expand(-1, alt.shape[1], *negative.shape[2:])
            embeds.append(torch.cat([rows(alt_negative), rows(alt)]) if cfg_batch else rows(alt))
            factors.append(torch.ones(2 * batch if cfg_batch else batch))
    names = routes[0].keys() if routes else ()
    per_layer = {name: [where.get((i, r[name]), i) for i, r in enumerate(routes)]
                 for name in names}
    return embeds, factors, owners, per_layer
