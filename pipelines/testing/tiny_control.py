"""Tiny random ControlNets and T2I-Adapters for tests (offline, about a second), saved with
``save_pretrained`` so the real loading path runs, and an original-layout writer for the
single-file tests.

A ControlNet made with ``ControlNetModel.from_unet`` starts with zero convolutions (its
residuals are all zero, which would make any parity test vacuous), so every parameter is
redrawn from the seed. T2I-Adapters add their residuals inside the first down block, which
must therefore have cross-attention: ``build_tiny_sd_for_adapter`` swaps in such a UNet
(diffusers' StableDiffusionAdapterPipeline fast-test layout).
"""

from __future__ import annotations

from pathlib import Path

import torch


def _randomize(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def build_tiny_controlnet(model_dir: str | Path, directory: str | Path, seed: int = 0,
                          conditioning_channels: tuple[int, ...] = (16, 32)) -> Path:
    """A random ControlNet shaped like the tiny checkpoint's UNet in ``model_dir`` (hint
    downscaled by 2 per entry of ``conditioning_channels`` after the first: the tiny VAE's 2)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(Path(model_dir) / "unet", local_files_only=True)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=conditioning_channels)
    _randomize(net, seed)
    directory = Path(directory)
    net.save_pretrained(directory)
    return directory


def build_tiny_controlnet_union(model_dir: str | Path, directory: str | Path, seed: int = 0,
                                kinds: int = 8) -> Path:
    """A random ControlNet-Union (``ControlNetUnionModel``) shaped like the tiny checkpoint's
    UNet in ``model_dir`` (an SDXL one), its union layers as wide as the first block."""
    import inspect

    from diffusers import ControlNetModel, ControlNetUnionModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(Path(model_dir) / "unet", local_files_only=True)
    plain = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    accepted = inspect.signature(ControlNetUnionModel.__init__).parameters
    config = {k: v for k, v in plain.config.items()
              if k in accepted and k not in ("self", "mid_block_type")}
    width = unet.config.block_out_channels[0]
    config.update(num_control_type=kinds, num_trans_channel=width, num_proj_channel=width)
    net = ControlNetUnionModel(**config)
    _randomize(net, seed)
    directory = Path(directory)
    net.save_pretrained(directory)
    return directory


def build_tiny_sd_for_adapter(directory: str | Path, seed: int = 0) -> Path:
    """The tiny SD checkpoint with a UNet whose first down block has cross-attention."""
    from diffusers import UNet2DConditionModel

    from pipelines.testing.tiny import build_tiny_sd

    directory = build_tiny_sd(directory, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4,
            out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
            attention_head_dim=4,
        )
    unet.save_pretrained(directory / "unet")
    return directory


def build_tiny_t2i_adapter(directory: str | Path, seed: int = 0, xl: bool = False) -> Path:
    """A random full T2I-Adapter for the tiny adapter UNet (hint downscaled by 2), or with
    ``xl`` an SDXL one (``full_adapter_xl``, unshuffle 4) for the tiny SDXL UNet."""
    from diffusers import T2IAdapter

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=2,
                             downscale_factor=4 if xl else 2,
                             adapter_type="full_adapter_xl" if xl else "full_adapter")
    _randomize(adapter, seed)
    directory = Path(directory)
    adapter.save_pretrained(directory)
    return directory


def original_t2i_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers full T2I-Adapter state dict in TencentARC's original layout (two residual
    blocks per level: ``adapter.body.i.resnets.j`` -> ``body.(2i + j)``)."""
    out = {}
    for key, value in state.items():
        parts = key.removeprefix("adapter.").split(".")
        if parts[0] == "body" and parts[2] == "resnets":
            name = f"body.{2 * int(parts[1]) + int(parts[3])}.{'.'.join(parts[4:])}"
        elif parts[0] == "body":
            name = f"body.{2 * int(parts[1])}.{'.'.join(parts[2:])}"
        else:
            name = ".".join(parts)
        out[name] = value
    return out


def original_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers-layout ControlNet state dict in the original ``control_model.*`` layout
    (the inverse of diffusers' ``convert_controlnet_checkpoint``, for test files)."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    layers = DIFFUSERS_TO_LDM_MAPPING["controlnet"]["layers"]
    per_block = len({k.split(".")[3] for k in state if k.startswith("down_blocks.0.resnets.")})
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("down_blocks.")})
    out: dict[str, torch.Tensor] = {}
    resnet = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
              ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
              ("conv_shortcut", "skip_connection"))

    def ldm_resnet(rest: str) -> str:
        for new, old in resnet:
            if rest.startswith(new + "."):
                return old + rest[len(new):]
        return rest

    for key, value in state.items():
        parts = key.split(".")
        if key in layers:
            name = layers[key]
        elif parts[0] == "down_blocks":
            block, kind, index = int(parts[1]), parts[2], int(parts[3])
            rest = ".".join(parts[4:])
            if kind == "downsamplers":
                ldm = 1 + block * (per_block + 1) + per_block
                name = f"input_blocks.{ldm}.0.op.{'.'.join(parts[5:])}"
            else:
                ldm = 1 + block * (per_block + 1) + index
                name = (f"input_blocks.{ldm}.0.{ldm_resnet(rest)}" if kind == "resnets"
                        else f"input_blocks.{ldm}.1.{rest}")
        elif parts[0] == "mid_block":
            if parts[1] == "attentions":
                name = "middle_block.1." + ".".join(parts[3:])
            else:
                name = f"middle_block.{2 * int(parts[2])}.{ldm_resnet('.'.join(parts[3:]))}"
        elif parts[0] == "controlnet_down_blocks":
            name = f"zero_convs.{parts[1]}.0.{parts[2]}"
        elif parts[0] == "controlnet_mid_block":
            name = f"middle_block_out.0.{parts[1]}"
        elif parts[0] == "controlnet_cond_embedding":
            if parts[1] == "conv_in":
                name = f"input_hint_block.0.{parts[2]}"
            elif parts[1] == "conv_out":
                count = len({k.split(".")[2] for k in state
                             if k.startswith("controlnet_cond_embedding.blocks.")})
                name = f"input_hint_block.{2 * (count + 1)}.{parts[2]}"
            else:
                name = f"input_hint_block.{2 * (int(parts[2]) + 1)}.{parts[3]}"
        else:
            raise KeyError(key)
        out["control_model." + name] = value
    del blocks
    return out
