"""Where networks live and where they run: low-VRAM mode and the ``on_device`` helper.

VRAM modes (``RunOptions.vram_mode``, ``--vram``):

- "normal": a model's networks are stored on the run device and stay there.
- "low": they are stored on the CPU; each node moves only the network it runs (the text
  encoders to encode, the UNet to sample, the VAE to decode) to the GPU and back afterwards.
  Slower (a copy per use) but a GPU smaller than the model still works.
- "auto": low on CUDA when the model's estimated size (plus 25% for activations) does not fit
  in the free VRAM (counting cached models, which can be moved out, and memory PyTorch holds
  but does not use) or the VRAM budget; normal otherwise. The CPU and Apple MPS (which shares
  system memory) are always normal.

Nodes call pipelines with the network already placed: ``with on_device(values, device):``.
A network with any tensor off the device is moved whole: a LoRA copy shares most layers with
its base, so the base coming back to the GPU leaves only the copy's own layers behind. Before
moving, the cache makes room (idle entries on the GPU go to the CPU). After the block each
moved network goes back to its storage device (its cache entry's; uncached: where its first
parameter was), so "normal" costs nothing and "low" returns the GPU memory (a compiled
copy's own weights too: a move releases the network's companions,
``pipelines.memory.companions``). The model cache is told a network is in use, so it is not
moved away meanwhile and an entry the cache had moved to the CPU comes back to its device first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipelines.catalog import VRAM_MODE_NAMES
from pipelines.errors import ModelLoadError
from pipelines.memory.companions import move
from pipelines.memory.networks import device_of, networks_of, same_device

if TYPE_CHECKING:
    from pipelines.memory.cache import ModelCache

VRAM_MODES = VRAM_MODE_NAMES
ACTIVATION_HEADROOM = 1.25


def _off_target(networks: list[torch.nn.Module], target: torch.device) -> dict[int, int]:
    """Bytes of the tensors not on ``target``, per network index (shared tensors once)."""
    seen: set[int] = set()
    verdict: dict[torch.device, bool] = {}  # same_device per distinct device, not per tensor
    off: dict[int, int] = {}
    for index, network in enumerate(networks):
        for tensor in (*network.parameters(), *network.buffers()):
            if tensor.device not in verdict:
                verdict[tensor.device] = not same_device(tensor.device, target)
            if verdict[tensor.device]:
                size = 0 if id(tensor) in seen else tensor.numel() * tensor.element_size()
                seen.add(id(tensor))
                off[index] = off.get(index, 0) + size
    return off


def _file_bytes(path: Path, dtype_for: Any) -> int:
    """Bytes the tensors of one weights file take once loaded in the target dtypes
    (``dtype_for(name)``; None: a tensor the loader skips)."""
    if path.suffix != ".safetensors":
        return path.stat().st_size  # a pickle's header is not readable without loading it
    from pipelines.loading.detect import read_header

    total = 0
    for name, info in read_header(path).items():
        if name == "__metadata__":
            continue
        count = 1
        dtype = dtype_for(name)
        if dtype is None:
            continue
        for size in info.get("shape", []):
            count *= int(size)
        total += count * dtype.itemsize
    return total


def _single_file_parts() -> tuple[tuple[str, str], ...]:
    """Key prefix -> precision role of what the single-file loader reads (the registered
    families' single-file layouts)."""
    from pipelines.families import single_file_prefixes
    from pipelines.loading.convert import UNET_PREFIX, VAE_PREFIX

    return ((UNET_PREFIX, "denoiser"), (VAE_PREFIX, "vae"),
            *((p, "text_encoder") for p in single_file_prefixes()))


def _single_file_bytes(path: Path, dtypes: dict[str, torch.dtype]) -> int:
    """A full checkpoint counts only the tensors the loader reads (not ``model_ema.*`` copies
    or other extras); a component file (a VAE, an upscaler: no known prefix) counts them all."""
    if path.suffix != ".safetensors":
        return path.stat().st_size
    from pipelines.loading.detect import read_header

    parts = _single_file_parts()
    names = [name for name in read_header(path) if name != "__metadata__"]
    if not any(name.startswith(prefix) for name in names for prefix, _ in parts):
        return _file_bytes(path, lambda _name: dtypes["vae"])

    def by_prefix(name: str) -> torch.dtype | None:
        return next((dtypes[p] for prefix, p in parts if name.startswith(prefix)), None)

    return _file_bytes(path, by_prefix)


def _weights(folder: Path) -> list[Path]:
    """The weight files diffusers loads from a component folder: safetensors before .bin, and
    the plain files before variants (``*.fp16.safetensors``) lying beside them."""
    for pattern in ("*.safetensors", "*.bin"):
        files = sorted(folder.glob(pattern))
        plain = [f for f in files if "." not in f.name.removesuffix(pattern[1:])]
        if files:
            return plain or files
    return []


def estimate_bytes(path: str | Path, dtypes: dict[str, torch.dtype]) -> int:
    """Approximate bytes a checkpoint (folder or single file) takes once loaded in ``dtypes``
    (``pipelines.memory.precision`` roles), from safetensors headers; no weight is read."""
    path = Path(path)
    if not path.is_dir():
        return _single_file_bytes(path, dtypes) if path.is_file() else 0
    from pipelines.families import UNKNOWN, component_roles, folder_family, get_family

    try:  # the folders its family loads (IF stage II never loads its copy of T5)
        family = folder_family(path)
    except (ValueError, ModelLoadError):  # the loader names a bad studio.json
        family = UNKNOWN
    roles = get_family(family).roles() if family != UNKNOWN else component_roles()
    total = 0
    for sub, part in roles.items():  # the network folders the loader reads
        total += sum(_file_bytes(f, lambda _name, p=part: dtypes[p]) for f in _weights(path / sub))
    if not total:  # a component folder of its own (a diffusers vae/ folder)
        total = sum(_file_bytes(f, lambda _name: dtypes["vae"]) for f in _weights(path))
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
    # blocks PyTorch's allocator holds but no tensor uses are free for the next load too
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    _, cached = cache.used()
    room = min(free + cached, cache.vram_budget)
    return "cpu" if estimate * ACTIVATION_HEADROOM > room else device


# A network's own storage device, overriding its cache entry's (a T5 encoder kept on the CPU)
STORAGE_ATTR = "_studio_storage"


def kept_in_ram(kind: type, device: str | torch.device, vram_mode: str) -> bool:
    """Whether a network of class ``kind`` is kept on the CPU between uses although its model
    is stored on ``device``: T5 encoders (DeepFloyd IF's T5-XXL is about 9.5 GB in float16,
    needed once per prompt, before the UNet runs) on CUDA in "normal" and "auto" mode. Low-VRAM
    mode keeps every network on the CPU anyway; the CPU and MPS never offload. The loaders ask
    it too, to load such a network straight to the CPU (``load_checkpoint``'s ``vram_mode``)."""
    return (torch.device(device).type == "cuda" and vram_mode in ("normal", "auto")
            and kind.__name__.startswith("T5"))


def offloads_after_use(network: torch.nn.Module, device: str | torch.device,
                       vram_mode: str) -> bool:
    """Whether a loaded text encoder is kept on the CPU between encodes (``kept_in_ram``)."""
    return kept_in_ram(type(network), device, vram_mode)


def place_text_encoders(clip: Any, device: str | torch.device, vram_mode: str) -> Any:
    """Move the text encoders of ``clip`` (a ``TextEncoder``) that ``offloads_after_use`` to
    the CPU and mark them, so ``on_device`` takes them to the GPU to encode and back after."""
    for _, encoder in clip.present():
        if offloads_after_use(encoder, device, vram_mode):
            encoder.to("cpu")
            setattr(encoder, STORAGE_ATTR, torch.device("cpu"))
    return clip


def home_of(network: torch.nn.Module, cache: ModelCache) -> torch.device:
    """Where a network goes back after ``on_device``: its own mark, else its cache entry's
    device, else where its first parameter is."""
    return (getattr(network, STORAGE_ATTR, None) or cache.storage_of(network)
            or device_of(network))


@contextlib.contextmanager
def on_device(values: Any, device: str | torch.device,
              cache: ModelCache | None = None) -> Iterator[None]:
    """Run the networks inside ``values`` on ``device`` within the block, then put each moved
    one back on its storage device (a no-op for networks already there; see the module doc).

    Args:
        values: Loaded values (``DiffusionModel``, ``TextEncoder``, ``Vae``, ``UpscaleModel``,
            modules; None is ignored), or a tuple of them.
        device: The run device.
        cache: The model cache to tell (default: the process-wide one).
    """
    from pipelines.memory.cache import default_cache

    target = torch.device(device)
    networks = networks_of(values)
    cache = cache or default_cache()
    with cache.using(networks):  # brings offloaded entries back first
        moved: list[tuple[torch.nn.Module, torch.device]] = []
        try:
            off = _off_target(networks, target)
            cache.reserve(sum(off.values()), target)
            for index in off:
                network = networks[index]
                home = home_of(network, cache)
                move(network, target)  # its companions' tensors are rebuilt there when used
                if not same_device(home, target):
                    moved.append((network, home))
            yield
        finally:
            for network, home in reversed(moved):
                move(network, home)  # releases its companions' tensors on the run device
            if moved and target.type == "cuda" and torch.cuda.is_available():
                torch.cuda.empty_cache()  # low mode: hand the blocks back for the next load
