"""IPAdapter_plus's embeds_scaling and per-layer token routes on one tiny attention layer,
against a hand computation of ``CrossAttentionPatch.ipadapter_attention`` (softmax attention
written out; "V only": output times weight; "K+V": keys and values times the weight; "w/ C
penalty": that weight times the layer width over 1280; "K+mean(V)": the values' mean over the
tokens scaled, the rest kept), and the precise types' swap: the negative rows attend to the
images, the positive rows to nothing."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention, IPAdapterAttnProcessor2_0

from pipelines.sampling.ip_adapter_attention import (
    LayeredIPAdapterProcessor,
    RoutedProjection,
    extra_token_sets,
)

HIDDEN, CROSS, HEADS = 64, 24, 2


def _layer(seed: int = 0) -> tuple[Attention, IPAdapterAttnProcessor2_0]:
    torch.manual_seed(seed)
    attn = Attention(HIDDEN, cross_attention_dim=CROSS, heads=HEADS, dim_head=HIDDEN // HEADS)
    proc = IPAdapterAttnProcessor2_0(HIDDEN, cross_attention_dim=CROSS, num_tokens=(4,))
    for p in proc.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return attn.eval(), proc.eval()


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Multi-head softmax attention, written out: [b, n, HIDDEN] each."""
    def split(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], HEADS, -1).transpose(1, 2)

    qh, kh, vh = split(q), split(k), split(v)
    weights = torch.softmax(qh @ kh.transpose(-1, -2) / qh.shape[-1] ** 0.5, dim=-1)
    return (weights @ vh).transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)


def _reference(attn, proc, hidden, text, tokens, weight, how):
    q = attn.to_q(hidden)
    out = _attention(q, attn.to_k(text), attn.to_v(text))
    k = proc.to_k_ip[0](tokens).reshape(hidden.shape[0], -1, HIDDEN)
    v = proc.to_v_ip[0](tokens).reshape(hidden.shape[0], -1, HIDDEN)
    if how == "V only":
        ip = _attention(q, k, v) * weight
    else:
        if how.endswith("C penalty"):
            weight = weight * HIDDEN / 1280.0
        if how.startswith("K+mean(V)"):
            mean = v.mean(dim=1, keepdim=True)
            v = (v - mean) + mean * weight
        else:
            v = v * weight
        ip = _attention(q, k * weight, v)
    return attn.to_out[0](out + ip)


def _inputs(batch: int = 2):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(batch, 6, HIDDEN, generator=g), torch.randn(batch, 5, CROSS, generator=g),
            torch.randn(batch, 1, 4, CROSS, generator=g))


@pytest.mark.parametrize("how", ["V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"])
@pytest.mark.parametrize("weight", [0.7, 2.5])
def test_embeds_scaling_matches_ipadapter_plus(how, weight):
    attn, proc = _layer()
    hidden, text, tokens = _inputs()
    layered = LayeredIPAdapterProcessor.of(proc)
    layered.scale, layered.scaling = [weight], [how]
    with torch.no_grad():
        ours = layered(attn, hidden, (text, [tokens]))
        expected = _reference(attn, proc, hidden, text, tokens, weight, how)
    assert (ours - expected).abs().max().item() <= 1e-5
    if how == "V only":  # and that is diffusers' own processor
        proc.scale = [weight]
        with torch.no_grad():
            theirs = proc(attn, hidden, (text, [tokens]))
        assert (ours - theirs).abs().max().item() <= 1e-5


def test_scalings_differ_and_zero_weight_adds_nothing():
    attn, proc = _layer()
    hidden, text, tokens = _inputs()
    layered = LayeredIPAdapterProcessor.of(proc)
    outs = {}
    with torch.no_grad():
        for how in ("V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"):
            layered.scale, layered.scaling = [1.5], [how]
            outs[how] = layered(attn, hidden, (text, [tokens]))
        layered.scale = [0.0]
        text_only = layered(attn, hidden, (text, [tokens]))
    values = list(outs.values())
    assert all((a - b).abs().max() > 1e-4 for i, a in enumerate(values) for b in values[i + 1:])
    assert torch.allclose(text_only, attn.to_out[0](_attention(attn.to_q(hidden),
                                                               attn.to_k(text),
                                                               attn.to_v(text))), atol=1e-5)


@pytest.mark.parametrize("cfg_batch", [True, False])
def test_the_swap_route_gives_the_negative_the_images_and_the_positive_nothing(cfg_batch):
    attn, proc = _layer()
    batch = 1
    rows = 2 * batch if cfg_batch else batch
    hidden, text, _ = _inputs(rows)
    g = torch.Generator().manual_seed(3)
    positive, negative = torch.randn(1, 1, 4, CROSS, generator=g), torch.zeros(1, 1, 4, CROSS)
    names = ["down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor"]
    routes = [{names[0]: "swap"}]
    extra, factors, owners, per_layer = extra_token_sets(routes, [(positive, negative, None)],
                                                         batch, cfg_batch)
    assert owners == [0] and per_layer == {names[0]: [1]}
    main = torch.cat([negative, positive]) if cfg_batch else positive
    projection = RoutedProjection([torch.nn.Identity()], owners)
    projected = projection([main, *extra, *factors])
    layered = LayeredIPAdapterProcessor.of(proc)
    layered.scale, layered.scaling, layered.routes = [0.9], ["V only"], per_layer[names[0]]
    with torch.no_grad():
        ours = layered(attn, hidden, (text, projected))
        text_only = attn.to_out[0](_attention(attn.to_q(hidden), attn.to_k(text),
                                              attn.to_v(text)))
        with_image = _reference(attn, proc, hidden, text, positive.expand(rows, -1, -1, -1),
                                0.9, "V only")
    if cfg_batch:
        assert (ours[:batch] - with_image[:batch]).abs().max().item() <= 1e-5
        assert (ours[batch:] - text_only[batch:]).abs().max().item() <= 1e-5
    else:
        assert (ours - text_only).abs().max().item() <= 1e-5


def test_a_composition_route_reads_the_composition_tokens_with_the_negative_kept():
    g = torch.Generator().manual_seed(5)
    positive, negative, alt = (torch.randn(1, 2, 8, generator=g) for _ in range(3))
    alt = alt[:, :1]
    routes = [{"a": "main", "b": "alt"}]
    extra, factors, owners, per_layer = extra_token_sets(routes, [(positive, negative, alt)],
                                                         1, True)
    assert per_layer == {"a": [0], "b": [1]} and owners == [0]
    assert torch.equal(extra[0], torch.cat([negative[:, :1], alt]))
    assert torch.equal(factors[0], torch.ones(2))
