"""Where networks live and where they run: low-VRAM mode and the ``on_device`` helper.

VRAM modes (``RunOptions.vram_mode``, ``--vram``):

- "normal": a model's networks are stored on the run device and stay there.
- "low": they are stored on the CPU; each node moves only the network it runs (the text
  encoders to encode, the UNet to sample, the VAE to decode) to the GPU and back afterwards.
  Slower (a copy per use) but a GPU smaller than the model still works.
- "auto": low on CUDA when the model's estimated size (plus 25% for activations) does not fit
  in the free VRAM (counting cached models, which can be moved out) or the VRAM budget; normal
  otherwise. The CPU and Apple MPS (which shares system memory) are always normal.

Nodes call pipelines with the network already placed: ``with on_device(values, device):``.
After the block each network goes back to where it was, so "normal" costs nothing and "low"
returns the GPU memory. The model cache is told a network is in use, so it is not moved away
meanwhile and an entry the cache had moved to the CPU comes back to its device first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipelines.catalog import VRAM_MODE_NAMES

if TYPE_CHECKING:
    from pipelines.model_cache import ModelCache

VRAM_MODES = VRAM_MODE_NAMES
ACTIVATION_HEADROOM = 1.25
# single-file key prefixes -> component (for size estimates); anything else: text encoders
_PREFIXES = (("model.diffusion_model.", "unet"), ("first_stage_model.", "vae"))
_FOLDER_PARTS = (("unet", "unet"), ("vae", "vae"), ("text_encoder", "text_encoder"),
                 ("text_encoder_2", "text_encoder"))


def networks_of(value: Any) -> list[torch.nn.Module]:
    """The torch networks inside a loaded value: a module, a dataclass such as
    ``DiffusionModel``/``TextEncoder``/``Vae``/``UpscaleModel``, or a tuple/list of them."""
    found: list[torch.nn.Module] = []
    if isinstance(value, torch.nn.Module):
        found.append(value)
    elif isinstance(value, tuple | list):
        for item in value:
            found.extend(networks_of(item))
    elif is_dataclass(value) and not isinstance(value, type):
        found.extend(v for f in fields(value)
                     if isinstance(v := getattr(value, f.name), torch.nn.Module))
    unique: dict[int, torch.nn.Module] = {id(n): n for n in found}
    return list(unique.values())


def device_of(network: torch.nn.Module) -> torch.device:
    """Where a network's (first) parameter lives; CPU for a network without parameters."""
    first = next(network.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def tensor_bytes(networks: list[torch.nn.Module]) -> dict[str, int]:
    """Bytes of parameters and buffers per device type (tensors shared between networks once)."""
    seen: set[int] = set()
    total: dict[str, int] = {}
    for network in networks:
        for tensor in (*network.parameters(), *network.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                kind = tensor.device.type
                total[kind] = total.get(kind, 0) + tensor.numel() * tensor.element_size()
    return total


def same_device(a: str | torch.device, b: str | torch.device) -> bool:
    """True when ``a`` and ``b`` are one device ("cuda" is the current GPU, "mps" is "mps:0")."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cuda":
        current = torch.cuda.current_device() if a.index is None or b.index is None else 0
        return (current if a.index is None else a.index) == (current if b.index is None else b.index)
    return a.type in ("cpu", "mps") or a.index == b.index


def _file_bytes(path: Path, dtype_for: Any) -> int:
    """Bytes the tensors of one weights file take once loaded in the target dtypes."""
    if path.suffix != ".safetensors":
        return path.stat().st_size  # a pickle's header is not readable without loading it
    from pipelines.detect import read_header

    total = 0
    for name, info in read_header(path).items():
        if name == "__metadata__":
            continue
        count = 1
        for size in info.get("shape", []):
            count *= int(size)
        total += count * dtype_for(name).itemsize
    return total


def estimate_bytes(path: str | Path, dtypes: dict[str, torch.dtype]) -> int:
    """Approximate bytes a checkpoint (folder or single file) takes once loaded in ``dtypes``
    (``pipelines.precision`` components), from safetensors headers; no weight is read."""
    path = Path(path)
    if not path.is_dir():
        def by_prefix(name: str) -> torch.dtype:
            part = next((p for prefix, p in _PREFIXES if name.startswith(prefix)), "text_encoder")
            return dtypes[part]

        return _file_bytes(path, by_prefix) if path.is_file() else 0
    total = 0
    for sub, part in _FOLDER_PARTS:
        files = sorted((path / sub).glob("*.safetensors")) or sorted((path / sub).glob("*.bin"))
        total += sum(_file_bytes(f, lambda _name, p=part: dtypes[p]) for f in files)
    if not total:  # a component folder of its own (a diffusers vae/ folder)
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        total = sum(_file_bytes(f, lambda _name: dtypes["vae"]) for f in files)
    return total


def storage_device(device: str, vram_mode: str, estimate: int, cache: ModelCache) -> str:
    """Where a model of ``estimate`` bytes is kept for runs on ``device`` (see the module doc).

    Raises:
        ValueError: ``vram_mode`` is not one of ``VRAM_MODES``.
    """
    if vram_mode not in VRAM_MODES:
        raise ValueError(f"vram mode {vram_mode!r} is not one of {', '.join(VRAM_MODES)}")
    if torch.device(device).type != "cuda" or vram_mode == "normal":
        return device
    if vram_mode == "low":
        return "cpu"
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    _, cached = cache.used()
    room = min(free + cached, cache.vram_budget)
    return "cpu" if estimate * ACTIVATION_HEADROOM > room else device


@contextlib.contextmanager
def on_device(values: Any, device: str | torch.device,
              cache: ModelCache | None = None) -> Iterator[None]:
    """Run the networks inside ``values`` on ``device`` within the block, then put each back
    where it was (a no-op for networks already there).

    Args:
        values: Loaded values (``DiffusionModel``, ``TextEncoder``, ``Vae``, ``UpscaleModel``,
            modules; None is ignored), or a tuple of them.
        device: The run device.
        cache: The model cache to tell (default: the process-wide one).
    """
    from pipelines.model_cache import default_cache

    target = torch.device(device)
    networks = networks_of(values)
    with (cache or default_cache()).using(networks):
        moved: list[tuple[torch.nn.Module, torch.device]] = []
        try:
            for network in networks:
                home = device_of(network)
                if not same_device(home, target):
                    moved.append((network, home))
                    network.to(target)
            yield
        finally:
            for network, home in reversed(moved):
                network.to(home)
