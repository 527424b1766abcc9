"""The parts of an AUTOMATIC1111 generation beyond plain txt2img, added to the graph that
``recipes.txt2img`` builds (ids 1 loader, 2/3 prompts, 4 latent, 5 noise, 6 sampler,
7 decode, 8 save): LoRAs from ``<lora:name:weight>`` tags, a separate VAE, clip skip and the
hires fix (upscale, then a second sampler at the ``Denoising strength``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.engine.graph import Edge, Graph
from app.engine.registry import Registry
from app.interop.comfy_fields import show
from app.interop.model_names import file_name

# <lora:name>, <lora:name:0.8>, <lora:name:te:unet>, <lyco:...> (LyCORIS extension)
_TAG = re.compile(r"<(?:lora|lyco):([^:<>]{1,200}+)((?::[^:<>]{0,40}+){0,2}+)>", re.I)
CLIP_LAYER_NODE = "conditioning.clip_set_last_layer"  # issue 16's CLIP Set Last Layer

# A1111 latent upscale modes -> our latent upscale methods
LATENT_UPSCALERS = {"latent": "bilinear", "latent (antialiased)": "bilinear",
                    "latent (bicubic)": "bicubic", "latent (bicubic antialiased)": "bicubic",
                    "latent (nearest)": "nearest-exact", "latent (nearest-exact)": "nearest-exact"}
# plain resizes among A1111's image upscalers -> our image upscale methods
IMAGE_RESIZES = {"lanczos": "lanczos", "nearest": "nearest-exact", "none": "bilinear"}
# A1111's built-in upscaler names -> the files they are shipped as
UPSCALER_FILES = {"r-esrgan 4x+": "RealESRGAN_x4plus.pth",
                  "r-esrgan 4x+ anime6b": "RealESRGAN_x4plus_anime_6B.pth",
                  "esrgan_4x": "ESRGAN_4x.pth", "swinir 4x": "SwinIR_4x.pth"}


@dataclass(frozen=True)
class Lora:
    name: str
    strength_model: float
    strength_clip: float


def take_loras(prompt: str, notes: list[str]) -> tuple[str, list[Lora]]:
    """The prompt without its LoRA tags, and the LoRAs they name (te weight, unet weight)."""
    loras: list[Lora] = []

    def take(match: re.Match[str]) -> str:
        weights = [w.strip() for w in match.group(2).split(":")[1:]]
        te = _weight(weights[0] if weights else "", 1.0, match.group(0), notes)
        unet = _weight(weights[1], te, match.group(0), notes) if len(weights) > 1 else te
        loras.append(Lora(match.group(1).strip(), unet, te))
        return ""

    cleaned = _TAG.sub(take, prompt)
    if loras:  # tags leave ", ," and doubled spaces behind
        cleaned = re.sub(r"[ \t]{2,}", " ", re.sub(r"(,\s*){2,}", ", ", cleaned)).strip(" ,\n")
    return cleaned, loras


def _weight(text: str, default: float, tag: str, notes: list[str]) -> float:
    if not text:
        return default
    try:
        value = float(text.split("=")[-1])  # te=0.5 / unet=0.5 written by name
    except ValueError:
        notes.append(f"LoRA tag {show(tag)}: weight {show(text)} not understood; using "
                     f"{default}")
        return default
    return max(-4.0, min(4.0, value))


def add_loras(graph: Graph, registry: Registry, loras: list[Lora], notes: list[str]) -> None:
    """Chain Load LoRA nodes between the checkpoint and its users, in tag order."""
    model, clip = ("1", "model"), ("1", "clip")
    guessed, chain = [], set()
    for index, lora in enumerate(loras):
        name, found = file_name(lora.name, "loras")
        if not found:
            guessed.append(name)
        node = graph.add("loaders.lora", registry=registry, title=f"LoRA {lora.name}"[:120],
                         position=(0.0, 260.0 + 160 * index),
                         values={"lora": name, "strength_model": lora.strength_model,
                                 "strength_clip": lora.strength_clip})
        graph.connect(*model, node.id, "model")
        graph.connect(*clip, node.id, "clip")
        model, clip = (node.id, "model"), (node.id, "clip")
        chain.add(node.id)
    if guessed:
        notes.append(f"LoRA file(s) not found in the loras folders, assumed: {', '.join(guessed)}")
    _rewire(graph, ("1", "model"), model, {"model"}, chain)
    _rewire(graph, ("1", "clip"), clip, {"clip"}, chain)


def add_clip_skip(graph: Graph, registry: Registry, text: str, notes: list[str]) -> None:
    """A1111's ``Clip skip: 2`` is ComfyUI's CLIP Set Last Layer at -2, before the prompts."""
    try:
        skip = int(text.strip())
    except ValueError:
        notes.append(f"Clip skip {show(text)} not understood; ignored")
        return
    if skip <= 1:
        return
    if CLIP_LAYER_NODE not in registry:
        notes.append(f"Clip skip {skip} is not supported here yet; ignored")
        return
    source = next(e for e in graph.edges if e.target == "2" and e.input == "clip")
    node = graph.add(CLIP_LAYER_NODE, registry=registry, title=f"Clip skip {skip}",
                     position=(160.0, -260.0), values={"stop_at_clip_layer": -min(skip, 24)})
    graph.connect(source.source, source.output, node.id, "clip")
    _rewire(graph, (source.source, source.output), (node.id, "clip"), {"clip"}, {node.id})


def add_vae(graph: Graph, registry: Registry, name: str, notes: list[str]) -> None:
    """A separate VAE (``VAE: name``) feeding every decode and encode."""
    file, found = file_name(name, "vae")
    if not found:
        notes.append(f"VAE {show(name)} not found in the vae folders; assumed {file!r}")
    node = graph.add("loaders.vae", registry=registry, title="Load VAE", values={"vae": file},
                     position=(660.0, 320.0))
    _rewire(graph, ("1", "vae"), (node.id, "vae"), {"vae"})


def _rewire(graph: Graph, old: tuple[str, str], new: tuple[str, str], inputs: set[str],
            keep: set[str] | frozenset[str] = frozenset()) -> None:
    """Inputs ``inputs`` fed by ``old`` are fed by ``new`` instead (except nodes ``keep``)."""
    if old == new:
        return
    graph.edges = [Edge(*new, e.target, e.input)
                   if (e.source, e.output) == old and e.input in inputs
                   and e.target not in keep else e
                   for e in graph.edges]
