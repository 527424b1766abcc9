"""A tiny random GLIGEN model: the tiny SD 1.x checkpoint with a gated UNet
(``attention_type="gated"``: a position net and a gated self-attention fuser in every
transformer block, as diffusers' GLIGEN checkpoints have), its GLIGEN layers given random
weights (fresh ones start with closed gates and would change nothing). It loads in our loader
and in diffusers' StableDiffusionGLIGENPipeline."""

from __future__ import annotations

from pathlib import Path

import torch

from pipelines.testing.tiny import build_tiny_sd


def build_tiny_gligen(directory: str | Path, seed: int = 0) -> Path:
    """Build ``directory`` (a second or two on a CPU) and return it."""
    from diffusers import UNet2DConditionModel

    folder = Path(build_tiny_sd(directory, seed=seed))
    plain = UNet2DConditionModel.from_pretrained(folder / "unet")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        gated = UNet2DConditionModel.from_config({**plain.config, "attention_type": "gated"})
        missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
        assert not unexpected and all("fuser" in k or "position_net" in k for k in missing)
        for name, param in gated.named_parameters():
            if "alpha" in name or "null_" in name:  # open the gates, give the nulls values
                param.data.copy_(torch.randn_like(param) * 0.5)
    gated.save_pretrained(folder / "unet")
    return folder


# the tiny UNet's attention blocks under the original (ComfyUI) names
ORIGINAL_BLOCKS = {
    "down_blocks.1.attentions.0": "input_blocks.4.1", "down_blocks.1.attentions.1":
    "input_blocks.5.1", "mid_block.attentions.0": "middle_block.1",
    **{f"up_blocks.0.attentions.{i}": f"output_blocks.{i}.1" for i in range(3)},
}


def gligen_layers(folder: str | Path) -> dict[str, torch.Tensor]:
    """The GLIGEN layers of the tiny model's UNet under diffusers' names."""
    from safetensors.torch import load_file

    state = load_file(Path(folder) / "unet" / "diffusion_pytorch_model.safetensors")
    return {k: v for k, v in state.items() if "fuser" in k or "position_net" in k}


def save_comfy_gligen_file(folder: str | Path, path: str | Path) -> Path:
    """The tiny model's GLIGEN layers saved as ComfyUI's GLIGEN files hold them (original
    block names, ``position_net.*``); with the plain tiny SD model of the same seed they make
    the tiny GLIGEN model."""
    from safetensors.torch import save_file

    layers = {}
    for key, value in gligen_layers(folder).items():
        block, found, rest = key.partition(".transformer_blocks.")
        layers[f"{ORIGINAL_BLOCKS[block]}.transformer_blocks.{rest}" if found else key] = value
    save_file(layers, str(path))
    return Path(path)
