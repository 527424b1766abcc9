"""VAE encode/decode between images [B, H, W, 3] in 0..1 and scaled latents.

Large images: ``tiling="auto"`` runs the plain VAE and, when the accelerator runs out of memory,
frees what it can and retries image by image in overlapping tiles (diffusers' tiled VAE), which
needs a fraction of the memory; ``"always"`` tiles from the start, ``"never"`` never does.
Half precision: a VAE that overflows in fp16 (SDXL's does; its config says ``force_upcast``)
is converted to fp32 once and the call repeated, so the user gets an image, not black NaNs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import torch

from pipelines.catalog import VAE_TILING
from pipelines.errors import OutOfMemory
from pipelines.speed.inference import ordinary
from pipelines.values import Latent, Vae

log = logging.getLogger(__name__)

TILING_MODES = VAE_TILING


def _device_dtype(vae: Vae) -> tuple[torch.device, torch.dtype]:
    parameter = next(vae.vae.parameters())
    return parameter.device, parameter.dtype


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures (they surface as different exception types)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_accelerator_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


@contextlib.contextmanager
def tiled(vae: Vae, tile: int | None = None, overlap: int | None = None) -> Iterator[None]:
    """Decode/encode in overlapping tiles, one image at a time, inside the block.

    Args:
        vae: The VAE; its previous tiling/slicing settings come back afterwards.
        tile: Tile size in pixels (a multiple of the VAE scale factor); None keeps the VAE's own
            (its config ``sample_size``: 512 for SD1.x/2.x, 1024 for SDXL).
        overlap: Pixels neighbouring tiles share (blended across); None keeps the VAE's own
            (a quarter of the tile). At most a quarter of the tile, as ComfyUI's tiled nodes.
    """
    net = vae.vae
    saved = (net.use_tiling, net.use_slicing, net.tile_sample_min_size, net.tile_latent_min_size,
             net.tile_overlap_factor)
    net.use_tiling, net.use_slicing = True, True
    if tile is not None:
        factor = 2 ** (len(net.config.block_out_channels) - 1)
        net.tile_sample_min_size, net.tile_latent_min_size = tile, max(1, tile // factor)
    if overlap is not None:
        size = net.tile_sample_min_size
        net.tile_overlap_factor = min(overlap, size // 4) / size
    try:
        yield
    finally:
        (net.use_tiling, net.use_slicing, net.tile_sample_min_size, net.tile_latent_min_size,
         net.tile_overlap_factor) = saved


def _upcast_if_overflowed(vae: Vae, result: torch.Tensor, run: Callable[[], torch.Tensor],
                          what: str) -> torch.Tensor:
    _, dtype = _device_dtype(vae)
    if dtype == torch.float32 or bool(torch.isfinite(result).all()):
        return result
    log.warning("%s overflowed in %s; converting the VAE to float32 and repeating", what, dtype)
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # its "cast with to()" advice is about training
    try:
        vae.vae.to(torch.float32)
    finally:
        diffusers_logging.set_verbosity(level)
    return run()


def _with_fallbacks(vae: Vae, run: Callable[[], torch.Tensor], tiling: str, what: str,
                    tile: int | None, overlap: int | None = None) -> torch.Tensor:
    if tiling not in TILING_MODES:
        raise ValueError(f"Unknown tiling {tiling!r}; valid: {', '.join(TILING_MODES)}")

    def run_tiled() -> torch.Tensor:
        with tiled(vae, tile, overlap):
            return run()

    first = run_tiled if tiling == "always" else run
    try:
        return _upcast_if_overflowed(vae, first(), first, what)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        if tiling != "auto":
            raise OutOfMemory(what, _OOM_HINT) from exc
    # Retried outside the except block: the failed call's traceback (and the tensors its
    # frames hold) is gone by now, so the memory can really be freed.
    log.warning("Out of memory during %s; retrying in tiles", what)
    _free_accelerator_memory()
    try:
        result = run_tiled()
    except Exception as exc:
        if is_out_of_memory(exc):
            raise OutOfMemory(what + " even in tiles", _OOM_HINT) from exc
        raise
    return _upcast_if_overflowed(vae, result, run_tiled, what)


_OOM_HINT = (
    "Lower the resolution or the batch size, use smaller VAE tiles, or run with '--vram low' "
    "so only the network in use stays on the GPU."
)


def decode(vae: Vae, latent: Latent, tiling: str = "auto", tile: int | None = None,
           overlap: int | None = None) -> torch.Tensor:
    """Decode scaled latents to images (unscale: ``z / scaling_factor + shift_factor``).

    Args:
        vae: The VAE.
        latent: Latents [B, C, h, w] in the scaled space.
        tiling: "auto" (retry in tiles on out-of-memory), "always" or "never".
        tile: Tile size in pixels for tiled decoding; None = the VAE's default.
        overlap: Pixels tiles overlap; None = the VAE's default (see ``tiled``).

    Returns:
        float32 CPU images [B, H, W, 3] in 0..1.

    Raises:
        OutOfMemory: The accelerator ran out of memory even after the fallbacks.
        ValueError: Unknown ``tiling``.
    """
    device, _ = _device_dtype(vae)
    z = latent.samples.to(device=device, dtype=torch.float32) / vae.scaling_factor
    if vae.shift_factor is not None:
        z = z + vae.shift_factor

    def run() -> torch.Tensor:
        _, dtype = _device_dtype(vae)
        with torch.inference_mode():
            return vae.vae.decode(z.to(dtype), return_dict=False, **vae.decode_options)[0]

    size = f"{z.shape[-1] * _scale(vae)}x{z.shape[-2] * _scale(vae)}"
    pixels = _with_fallbacks(vae, run, tiling, f"VAE decode of a {size} image", tile, overlap)
    image = (pixels.float() / 2 + 0.5).clamp(0, 1)
    return ordinary(image.permute(0, 2, 3, 1).contiguous().cpu())


def _scale(vae: Vae) -> int:
    return 2 ** (len(vae.vae.config.block_out_channels) - 1)


def encode(vae: Vae, image: torch.Tensor, tiling: str = "auto", tile: int | None = None,
           overlap: int | None = None, scaled: bool = True) -> Latent:
    """Encode images to scaled latents (mode of the posterior; ``(z - shift) * scaling_factor``).

    Args:
        vae: The VAE.
        image: float images [B, H, W, 3] in 0..1 (H and W multiples of the VAE scale factor).
        tiling: "auto" (retry in tiles on out-of-memory), "always" or "never".
        tile: Tile size in pixels for tiled encoding; None = the VAE's default.
        overlap: Pixels tiles overlap; None = the VAE's default (see ``tiled``).
        scaled: False gives the VAE's own latents (no shift, no scaling), as an
            InstructPix2Pix UNet takes its image.

    Returns:
        A ``Latent`` with float32 CPU samples [B, C, H / f, W / f].

    Raises:
        ValueError: The image is not [B, H, W, 3], or unknown ``tiling``.
        OutOfMemory: The accelerator ran out of memory even after the fallbacks.
    """
    if image.dim() != 4 or image.shape[-1] != 3:
        raise ValueError(f"Expected an image batch [B, H, W, 3], got {tuple(image.shape)}")
    device, _ = _device_dtype(vae)
    # contiguous: a channels-last view would make the convolutions round differently
    pixels = image.to(device=device, dtype=torch.float32).permute(0, 3, 1, 2).contiguous() * 2 - 1

    def run() -> torch.Tensor:
        _, dtype = _device_dtype(vae)
        with torch.inference_mode():
            encoded = vae.vae.encode(pixels.to(dtype), return_dict=False)[0]
            # an AutoencoderKL gives a posterior (its mode), a VQModel the latents themselves
            return encoded.mode() if hasattr(encoded, "mode") else encoded

    what = f"VAE encode of a {image.shape[2]}x{image.shape[1]} image"
    z = _with_fallbacks(vae, run, tiling, what, tile, overlap).float()
    if not scaled:
        return Latent(samples=ordinary(z.contiguous().cpu()))
    if vae.shift_factor is not None:
        z = z - vae.shift_factor
    # contiguous: the posterior's mean is a channel slice of the encoder output, and the UNet's
    # convolutions round differently on strided latents
    return Latent(samples=ordinary((z * vae.scaling_factor).contiguous().cpu()))
