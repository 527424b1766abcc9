"""Tiny random SD3 and Flux ControlNets shaped like a tiny model folder's transformer (for
tests: a second on the CPU), saved with ``save_pretrained``, and writers of the single-file
layouts users have (``pipelines.loading.transformer_controlnet``'s layouts, inverted).

ControlNets start with zero output blocks (their residuals would all be zero, which makes any
parity test vacuous), so every parameter is redrawn from the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def _randomize(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def _transformer_config(model_dir: str | Path) -> dict[str, Any]:
    import json

    return json.loads((Path(model_dir) / "transformer" / "config.json").read_text())


def build_tiny_sd3_controlnet(model_dir: str | Path, directory: str | Path, style: str = "instantx",
                              seed: int = 0, layers: int = 1) -> Path:
    """An ``SD3ControlNetModel`` for the tiny SD3 folder ``model_dir``: "instantx" (its own
    patch embedding, a context embedder, zero pooled projections) or "sd35" (Stability's SD3.5
    large nets: the transformer's patch embedding, no context, the pooled projections)."""
    from diffusers import SD3ControlNetModel

    t = _transformer_config(model_dir)
    inner = t["attention_head_dim"] * t["num_attention_heads"]
    common = dict(patch_size=t["patch_size"], in_channels=t["in_channels"], num_layers=layers,
                  pooled_projection_dim=t["pooled_projection_dim"], out_channels=t["in_channels"])
    if style == "instantx":
        net = SD3ControlNetModel(
            sample_size=t["sample_size"], attention_head_dim=t["attention_head_dim"],
            num_attention_heads=t["num_attention_heads"],
            joint_attention_dim=t["joint_attention_dim"],
            caption_projection_dim=t["caption_projection_dim"],
            pos_embed_max_size=t["pos_embed_max_size"], **common)
    elif style == "sd35":
        head = 64 if inner % 64 == 0 else inner  # files carry no head count: 64 as SD3.5's
        net = SD3ControlNetModel(
            attention_head_dim=head, num_attention_heads=inner // head, joint_attention_dim=None,
            caption_projection_dim=inner, pos_embed_max_size=None, pos_embed_type=None,
            use_pos_embed=False, force_zeros_for_pooled_projection=False, **common)
    else:
        raise ValueError(f"tiny SD3 ControlNet styles: instantx, sd35; not {style!r}")
    _randomize(net, seed)
    net.save_pretrained(str(directory))
    return Path(directory)


def build_tiny_flux_controlnet(model_dir: str | Path, directory: str | Path, seed: int = 0,
                               modes: int | None = None, xlabs: bool = False,
                               layers: int = 1, single_layers: int = 1) -> Path:
    """A ``FluxControlNetModel`` for the tiny Flux folder ``model_dir``: InstantX-style
    (latent hint; ``modes``: a Union net) or XLabs-style (``xlabs``: a pixel hint block of 16
    channels in 2x2 patches; no single blocks)."""
    from diffusers import FluxControlNetModel

    t = _transformer_config(model_dir)
    net = FluxControlNetModel(
        patch_size=2 if xlabs else 1, in_channels=t["in_channels"], num_layers=layers,
        num_single_layers=0 if xlabs else single_layers,
        attention_head_dim=t["attention_head_dim"], num_attention_heads=t["num_attention_heads"],
        joint_attention_dim=t["joint_attention_dim"],
        pooled_projection_dim=t["pooled_projection_dim"], guidance_embeds=True,
        axes_dims_rope=t["axes_dims_rope"], num_mode=modes,
        conditioning_embedding_channels=16 if xlabs else None)
    _randomize(net, seed)
    net.save_pretrained(str(directory))
    return Path(directory)


def sd35_layout(state: dict[str, torch.Tensor], control_type: int = 1) -> dict[str, torch.Tensor]:
    """A diffusers ``SD3ControlNetModel`` (SD3.5 style) state in Stability's file layout."""
    renames = {"attn.to_out.0": "attn.proj", "ff.net.0.proj": "mlp.fc1", "ff.net.2": "mlp.fc2",
               "norm1.linear": "adaLN_modulation.1"}
    out: dict[str, torch.Tensor] = {"control_type": torch.tensor(float(control_type))}
    for key, value in state.items():
        if not key.startswith("transformer_blocks."):
            out[key] = value
            continue
        _, block, rest = key.split(".", 2)
        base = f"transformer_blocks.{block}."
        stem, kind = rest.rsplit(".", 1)
        if stem == "attn.to_q":
            parts = [state[f"{base}attn.to_{n}.{kind}"] for n in "qkv"]
            out[f"{base}attn.qkv.{kind}"] = torch.cat(parts)
        elif stem not in ("attn.to_k", "attn.to_v"):
            out[f"{base}{renames.get(stem, stem)}.{kind}"] = value
    return out


def xlabs_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers ``FluxControlNetModel`` (XLabs style) state in XLabs' BFL file layout."""
    from pipelines.loading.flux_convert import diffusers_to_bfl

    state = dict(state)
    out: dict[str, torch.Tensor] = {}
    blocks = sum(1 for k in state if k.startswith("input_hint_block.blocks.")
                 and k.endswith(".weight"))
    for key in [k for k in state if k.startswith("input_hint_block.")]:
        name, kind = key.split(".")[1], key.rsplit(".", 1)[1]
        index = (0 if name == "conv_in" else 2 * (blocks + 1) if name == "conv_out"
                 else 2 * (int(key.split(".")[2]) + 1))
        out[f"input_hint_block.{index}.{kind}"] = state.pop(key)
    for kind in ("weight", "bias"):
        out[f"pos_embed_input.{kind}"] = state.pop(f"controlnet_x_embedder.{kind}")
    controls = {k: state.pop(k) for k in list(state) if k.startswith("controlnet_blocks.")}
    width = state["x_embedder.weight"].shape[0]
    stand_in = {f"norm_out.linear.{k}": torch.zeros(2 * width) if k == "bias" else
                torch.zeros(2 * width, width) for k in ("weight", "bias")}
    body = diffusers_to_bfl({**state, **stand_in})
    out.update({k: v for k, v in body.items() if not k.startswith("final_layer.")})
    out.update(controls)
    return out


def write_controlnet_file(folder: str | Path, path: str | Path, layout: str = "diffusers") -> Path:
    """The ControlNet folder's weights as one .safetensors file: "diffusers" (as saved),
    "sd35" (Stability) or "xlabs"."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(Path(folder) / "diffusion_pytorch_model.safetensors"))
    if layout == "sd35":
        state = sd35_layout(state)
    elif layout == "xlabs":
        state = xlabs_layout(state)
    elif layout != "diffusers":
        raise ValueError(f"layouts: diffusers, sd35, xlabs; not {layout!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
