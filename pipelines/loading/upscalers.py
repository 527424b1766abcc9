"""Learned upscalers in plain torch: ESRGAN / Real-ESRGAN (RRDBNet) and Real-ESRGAN compact
(SRVGGNetCompact), loaded from the state dicts users download, run tile by tile.

spandrel would cover more architectures, but it needs torchvision, which has no CPU build
matching our torch; these two families cover most upscalers people actually use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from pipelines.errors import ModelLoadError


def _load_error(path: Path, message: str) -> ModelLoadError:
    return ModelLoadError(path, message, hint="")


class _DenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        x1 = act(self.conv1(x), 0.2)
        x2 = act(self.conv2(torch.cat((x, x1), 1)), 0.2)
        x3 = act(self.conv3(torch.cat((x, x1, x2), 1)), 0.2)
        x4 = act(self.conv4(torch.cat((x, x1, x2, x3), 1)), 0.2)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = _DenseBlock(nf, gc), _DenseBlock(nf, gc), _DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator in the BasicSR key layout; x2/x1 models unshuffle the input first."""

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, nb: int = 23,
                 gc: int = 32, scale: int = 4, upsamples: int = 2) -> None:
        super().__init__()
        self.scale, self.upsamples = scale, upsamples
        self.unshuffle = {4: 1, 2: 2, 1: 4}.get(scale, 1) if upsamples == 2 else 1
        self.conv_first = nn.Conv2d(in_nc * self.unshuffle**2, nf, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(nf, nf, 3, 1, 1)
        if upsamples == 2:
            self.conv_up2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = act(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        if self.upsamples == 2:
            feat = act(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(act(self.conv_hr(feat), 0.2))


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: a plain conv stack, pixel shuffle, plus the
    nearest-upsampled input."""

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, num_conv: int = 16,
                 scale: int = 4) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(in_nc, nf, 3, 1, 1), nn.PReLU(nf)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), nn.PReLU(nf)]
        layers.append(nn.Conv2d(nf, out_nc * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


@dataclass(eq=False)
class UpscaleModel:
    """A loaded upscaler: the network, its integer scale and its architecture name."""

    net: nn.Module
    scale: int
    architecture: str
    source: str


_OLD_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")


def convert_old_esrgan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the original ESRGAN layout (``model.0``, ``model.1.sub.N.RDBk``...) to BasicSR's."""
    indices = sorted({int(k.split(".")[1]) for k in state if k.startswith("model.")})
    tail = [i for i in indices if i >= 3]  # upconvs, HR conv and last conv, in order
    names = (["conv_up1", "conv_up2"] if len(tail) == 4 else ["conv_up1"]) + ["conv_hr", "conv_last"]
    mapping = {f"model.{i}": name for i, name in zip(tail, names, strict=True)}
    mapping["model.0"] = "conv_first"
    blocks = {int(m.group(1)) for k in state if (m := _OLD_BLOCK.match(k))}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if match := _OLD_BLOCK.match(key):
            block, rdb, conv, kind = match.groups()
            out[f"body.{block}.rdb{rdb}.conv{conv}.{kind}"] = value
        elif key.startswith(f"model.1.sub.{len(blocks)}."):
            out["conv_body." + key.rsplit(".", 1)[1]] = value
        else:
            prefix, kind = key.rsplit(".", 1)
            if prefix not in mapping:
                raise ValueError(f"unexpected key {key!r} in an ESRGAN checkpoint")
            out[f"{mapping[prefix]}.{kind}"] = value
    return out


def _rrdb_from_state(state: dict[str, torch.Tensor]) -> tuple[nn.Module, int]:
    if "model.0.weight" in state:
        state = convert_old_esrgan(state)
    nb = len({k.split(".")[1] for k in state if k.startswith("body.")})
    nf, in_ch = state["conv_first.weight"].shape[:2]
    gc = state["body.0.rdb1.conv1.weight"].shape[0]
    out_nc = state["conv_last.weight"].shape[0]
    upsamples = 2 if "conv_up2.weight" in state else 1
    if upsamples == 2:
        scale = {3: 4, 12: 2, 48: 1}.get(int(in_ch), 4)
        in_nc = 3 if int(in_ch) in (3, 12, 48) else int(in_ch)
    else:
        scale, in_nc = 2, int(in_ch)
    net = RRDBNet(in_nc, out_nc, nf, nb, gc, scale, upsamples)
    net.load_state_dict(state, strict=True)
    return net, scale


def _srvgg_from_state(state: dict[str, torch.Tensor]) -> tuple[nn.Module, int]:
    indices = sorted(int(k.split(".")[1]) for k in state if k.endswith(".weight"))
    last = indices[-1]
    nf, in_nc = state["body.0.weight"].shape[:2]
    num_conv = (last - 2) // 2
    out_channels = state[f"body.{last}.weight"].shape[0]
    scale = int(round((out_channels / 3) ** 0.5))
    net = SRVGGNetCompact(int(in_nc), 3, int(nf), num_conv, scale)
    net.load_state_dict(state, strict=True)
    return net, scale


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of an upscaler file (BasicSR pickles nest them under params_ema / params)."""
    from pipelines.loading.readers import read_state_dict as read

    accepted = "Only .safetensors or weights-only .pth upscalers are accepted."
    return read(path, ("params_ema", "params", "state_dict"), accepted)[0]


def load_upscaler(path: str | Path, device: str = "cpu") -> UpscaleModel:
    """Load an ESRGAN/RRDBNet or SRVGGNetCompact upscaler, detecting the layout by its keys.

    Raises:
        ModelLoadError: unreadable, unsafe, or not a supported architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise _load_error(path, "no such upscale model file")
    state = read_state_dict(path)
    builders: dict[str, Callable[[dict[str, torch.Tensor]], tuple[nn.Module, int]]] = {
        "RRDBNet": _rrdb_from_state,
        "SRVGGNetCompact": _srvgg_from_state,
    }
    if "conv_first.weight" in state or "model.0.weight" in state:
        architecture = "RRDBNet"
    elif "body.0.weight" in state and "body.1.weight" in state and state["body.1.weight"].dim() == 1:
        architecture = "SRVGGNetCompact"
    else:
        raise _load_error(
            path, "not a supported upscaler (ESRGAN/Real-ESRGAN RRDBNet or SRVGGNetCompact)"
        )
    try:
        net, scale = builders[architecture](state)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise _load_error(path, f"looks like {architecture} but does not fit it ({exc})") from None
    net.eval().requires_grad_(False).to(device)
    return UpscaleModel(net=net, scale=scale, architecture=architecture, source=str(path))


@torch.inference_mode()
def upscale_with_model(
    model: UpscaleModel, image: torch.Tensor, tile: int = 512, overlap: int = 32,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Upscale images [B, H, W, 3] (0..1) tile by tile so large images fit in memory.

    Args:
        tile: tile size in input pixels; 0 runs the whole image at once.
        overlap: context pixels around each tile, cropped away after upscaling.
        on_tile: called as ``on_tile(done, total)`` after each tile (progress, cancel).
    """
    param = next(model.net.parameters())
    x = image.permute(0, 3, 1, 2).to(param.device, param.dtype)
    b, _, h, w = x.shape
    s = model.scale
    if tile <= 0 or (h <= tile and w <= tile):
        out = model.net(x)
        if on_tile:
            on_tile(1, 1)
    else:
        out = torch.zeros(b, 3, h * s, w * s, device=x.device, dtype=x.dtype)
        tops, lefts = range(0, h, tile), range(0, w, tile)
        total, done = len(tops) * len(lefts), 0
        for top in tops:
            for left in lefts:
                bottom, right = min(top + tile, h), min(left + tile, w)
                t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
                t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
                result = model.net(x[:, :, t0:t1, l0:l1])
                crop = result[:, :, (top - t0) * s:(bottom - t0) * s, (left - l0) * s:(right - l0) * s]
                out[:, :, top * s:bottom * s, left * s:right * s] = crop
                done += 1
                if on_tile:
                    on_tile(done, total)
    return out.clamp_(0, 1).permute(0, 2, 3, 1).float().cpu()
