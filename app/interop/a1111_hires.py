"""AUTOMATIC1111's hires fix as a graph: the first pass, an upscale, a second sampler.

Fields (``processing.py`` writes them): ``Hires upscale: 2`` or ``Hires resize: 1024x1536``,
``Hires steps`` (0 or missing: the first pass's steps), ``Hires upscaler`` (``Latent...``
modes upscale the latent; any other upscaler works on the decoded image, which is encoded
again), ``Denoising strength`` (the second pass's denoise), and optionally ``Hires sampler``,
``Hires schedule type``, ``Hires CFG Scale``. The second sampler shares the model and noise
of the first, as A1111 does, and its prompts unless ``Hires prompt`` / ``Hires negative
prompt`` (written only when they differ) give it text encodes of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from app.engine.graph import Edge, Graph
from app.engine.registry import Registry
from app.interop.a1111_chain import (
    IMAGE_RESIZES,
    LATENT_UPSCALERS,
    UPSCALER_FILES,
    Lora,
    take_loras,
)
from app.interop.comfy_fields import show
from app.interop.model_names import file_name

USED = ("Hires upscale", "Hires resize", "Hires steps", "Hires upscaler", "Denoising strength",
        "Hires sampler", "Hires schedule type", "Hires CFG Scale", "Hires prompt",
        "Hires negative prompt")
# the txt2img recipe's prompt nodes, by the sampler input they feed
_PROMPTS = {"positive": ("2", "Hires prompt"), "negative": ("3", "Hires negative prompt")}


def add_hires(graph: Graph, registry: Registry, settings: dict[str, str], size: tuple[int, int],
              number: Callable[[str | None, type, Any], Any], pick: Callable[..., Any],
              notes: list[str], loras: Sequence[Lora] = ()) -> None:
    """Turn the txt2img graph (ids 1..8) into first pass -> upscale -> second pass -> decode."""
    first = graph.nodes["6"]
    latent_size, image_size = _target(settings, size, number, notes)
    steps = number(settings.get("Hires steps"), int, 0) or first.values.get("steps", 20)
    denoise = min(1.0, max(0.0, number(settings.get("Denoising strength"), float, 0.7)))
    values = {**first.values, "steps": steps, "denoise": denoise}
    if "Hires sampler" in settings or "Hires schedule type" in settings:
        sampler, schedule = pick(settings.get("Hires sampler", ""),
                                 settings.get("Hires schedule type", ""), notes)
        values.update({"sampler": sampler, "schedule": schedule} if "Hires sampler" in settings
                      else {"schedule": schedule})
    if "Hires CFG Scale" in settings:
        values["cfg"] = number(settings["Hires CFG Scale"], float, values.get("cfg", 7.0))
    upscaler = settings.get("Hires upscaler", "Latent").strip()
    key = upscaler.lower()
    if key in LATENT_UPSCALERS or not upscaler:
        scaled = graph.add("latent.upscale", registry=registry, title="Hires Upscale",
                           position=(960.0, 260.0),
                           values={"method": LATENT_UPSCALERS.get(key, "bilinear"),
                                   **latent_size})
        graph.connect("6", "latent", scaled.id, "latent")
        latent = (scaled.id, "latent")
    else:
        latent = _image_upscale(graph, registry, upscaler, image_size, notes)
    second = graph.add("sampling.sampler", registry=registry, title="Hires Sampler",
                       position=(1220.0, 260.0), values=values)
    for edge in [e for e in graph.edges if e.target == "6" and e.input != "latent"]:
        graph.edges.append(Edge(edge.source, edge.output, second.id, edge.input))
    graph.connect(*latent, second.id, "latent")
    graph.connect(second.id, "latent", "7", "latent")
    _hires_prompts(graph, registry, settings, second.id, loras, notes)


def _hires_prompts(graph: Graph, registry: Registry, settings: dict[str, str], sampler: str,
                   loras: Sequence[Lora], notes: list[str]) -> None:
    """A text encode for each hires prompt that differs from the first pass's, fed by the same
    CLIP (after LoRAs and clip skip), feeding only the hires sampler."""
    for port, (first, field) in _PROMPTS.items():
        if field not in settings:
            continue
        text, tags = take_loras(settings[field], notes)
        if tags and tags != list(loras):
            notes.append(f"{field}: its LoRA tags ({', '.join(t.name for t in tags)}) differ "
                         "from the prompt's; the prompt's LoRAs are used for both passes")
        if text == graph.nodes[first].values.get("text", ""):
            continue
        clip = next(e for e in graph.edges if e.target == first and e.input == "clip")
        encode = graph.add("conditioning.text_encode", registry=registry, title=field,
                           values={"text": text},
                           position=(1220.0, 480.0 if port == "positive" else 640.0))
        graph.connect(clip.source, clip.output, encode.id, "clip")
        graph.edges = [e for e in graph.edges if not (e.target == sampler and e.input == port)]
        graph.connect(encode.id, "conditioning", sampler, port)


def _image_upscale(graph: Graph, registry: Registry, upscaler: str, size: dict[str, Any],
                   notes: list[str]) -> tuple[str, str]:
    """Decode, upscale the image (a resize, or an upscale model then a resize to the exact
    size), encode again; returns the latent output."""
    vae = next(e for e in graph.edges if e.target == "7" and e.input == "vae")
    decode = graph.add("vae.decode", registry=registry, title="Decode First Pass",
                       position=(960.0, 260.0))
    graph.connect("6", "latent", decode.id, "latent")
    graph.connect(vae.source, vae.output, decode.id, "vae")
    image = (decode.id, "image")
    key = upscaler.lower()
    if key not in IMAGE_RESIZES:
        name, found = file_name(UPSCALER_FILES.get(key, upscaler), "upscale_models", ".pth")
        if not found:
            notes.append(f"hires upscaler {show(upscaler)} not found in the upscale_models "
                         f"folders; assumed {name!r}")
        loader = graph.add("upscale.load_model", registry=registry, title=upscaler[:120],
                           position=(960.0, 420.0), values={"model": name})
        model = graph.add("upscale.with_model", registry=registry, title="Hires Upscaler",
                          position=(1120.0, 420.0))
        graph.connect(loader.id, "upscale_model", model.id, "upscale_model")
        graph.connect(*image, model.id, "image")
        image = (model.id, "image")
    resize = graph.add("image.upscale", registry=registry, title="Hires Resize",
                       position=(1120.0, 260.0),
                       values={"method": IMAGE_RESIZES.get(key, "lanczos"), **size})
    graph.connect(*image, resize.id, "image")
    encode = graph.add("vae.encode", registry=registry, title="Encode for Hires",
                       position=(1120.0, 560.0))
    graph.connect(resize.id, "image", encode.id, "image")
    graph.connect(vae.source, vae.output, encode.id, "vae")
    return encode.id, "latent"


def _target(settings: dict[str, str], size: tuple[int, int],
            number: Callable[[str | None, type, Any], Any], notes: list[str]
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upscale's values for the latent and for the image: ``Hires resize`` is a size in
    pixels (multiples of 8); ``Hires upscale`` a factor for the latent, and for the image the
    first pass's size times it (an upscale model has its own factor first)."""
    resize = re.fullmatch(r"\s*(\d{1,5})\s*x\s*(\d{1,5})\s*", settings.get("Hires resize", ""))
    if resize and int(resize.group(1)) and int(resize.group(2)):
        width, height = int(resize.group(1)), int(resize.group(2))
        exact = {"factor": 0.0, "width": max(8, width // 8 * 8), "height": max(8, height // 8 * 8)}
        return exact, exact
    scale = number(settings.get("Hires upscale"), float, 2.0)
    if not 0 < scale <= 8:
        notes.append(f"Hires upscale {show(settings.get('Hires upscale'))} out of range; using 2")
        scale = 2.0
    width, height = int(size[0] * scale) // 8 * 8, int(size[1] * scale) // 8 * 8
    return ({"factor": scale, "width": 0, "height": 0},
            {"factor": 0.0, "width": max(8, width), "height": max(8, height)})
