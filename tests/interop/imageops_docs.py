"""ComfyUI documents for the image/latent operations, written as ComfyUI saves them: an
outpainting workflow (scale to total pixels, pad, inpaint model conditioning, latent composites,
tiled VAE, animated WEBP) and an InstructPix2Pix edit, each in the API and the UI format; and
ComfyUI's input definitions of these classes (required inputs, combo values) for export checks."""

from __future__ import annotations

import copy
from typing import Any

OUTPAINT_API: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-inpaint"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a wide beach", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "10": {"class_type": "LoadImage", "inputs": {"image": "picture.png"}},
    "11": {"class_type": "ImageScaleToTotalPixels",
           "inputs": {"image": ["10", 0], "upscale_method": "bilinear", "megapixels": 0.01,
                      "resolution_steps": 8}},
    "12": {"class_type": "ImagePadForOutpaint",
           "inputs": {"image": ["11", 0], "left": 8, "top": 0, "right": 8, "bottom": 0,
                      "feathering": 4}},
    "13": {"class_type": "InpaintModelConditioning",
           "inputs": {"positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2],
                      "pixels": ["12", 0], "mask": ["12", 1], "noise_mask": True}},
    "3": {"class_type": "KSampler",
          "inputs": {"seed": 5, "steps": 2, "cfg": 7.0, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                     "positive": ["13", 0], "negative": ["13", 1], "latent_image": ["13", 2]}},
    "15": {"class_type": "LatentComposite",
           "inputs": {"samples_to": ["3", 0], "samples_from": ["3", 0], "x": 8, "y": 8,
                      "feather": 8}},
    "16": {"class_type": "LatentCompositeMasked",
           "inputs": {"destination": ["15", 0], "source": ["3", 0], "x": 0, "y": 0,
                      "resize_source": False, "mask": ["12", 1]}},
    "8": {"class_type": "VAEDecodeTiled",
          "inputs": {"samples": ["16", 0], "vae": ["4", 2], "tile_size": 64, "overlap": 16,
                     "temporal_size": 64, "temporal_overlap": 8}},
    "17": {"class_type": "VAEEncodeTiled",
           "inputs": {"pixels": ["8", 0], "vae": ["4", 2], "tile_size": 512, "overlap": 64,
                      "temporal_size": 64, "temporal_overlap": 8}},
    "9": {"class_type": "SaveAnimatedWEBP",
          "inputs": {"images": ["8", 0], "filename_prefix": "outpaint", "fps": 6.0,
                     "lossless": False, "quality": 80, "method": "default"}},
}

IP2P_API: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-ip2p"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "make it snow", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "10": {"class_type": "LoadImage", "inputs": {"image": "picture.png"}},
    "11": {"class_type": "InstructPixToPixConditioning",
           "inputs": {"positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2],
                      "pixels": ["10", 0]}},
    "3": {"class_type": "KSampler",
          "inputs": {"seed": 9, "steps": 3, "cfg": 7.5, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                     "positive": ["11", 0], "negative": ["11", 1], "latent_image": ["11", 2]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveAnimatedPNG",
          "inputs": {"images": ["8", 0], "filename_prefix": "edit", "fps": 2.0,
                     "compress_level": 4}},
}

# ComfyUI's output types per class (for the UI links) and widgets_values as the UI saves them
OUTPUT_TYPES = {
    "CheckpointLoaderSimple": ("MODEL", "CLIP", "VAE"), "CLIPTextEncode": ("CONDITIONING",),
    "LoadImage": ("IMAGE", "MASK"), "ImageScaleToTotalPixels": ("IMAGE",),
    "ImagePadForOutpaint": ("IMAGE", "MASK"),
    "InpaintModelConditioning": ("CONDITIONING", "CONDITIONING", "LATENT"),
    "InstructPixToPixConditioning": ("CONDITIONING", "CONDITIONING", "LATENT"),
    "KSampler": ("LATENT",), "LatentComposite": ("LATENT",), "LatentCompositeMasked": ("LATENT",),
    "VAEDecodeTiled": ("IMAGE",), "VAEDecode": ("IMAGE",), "VAEEncodeTiled": ("LATENT",),
    "SaveAnimatedWEBP": (), "SaveAnimatedPNG": (),
}
WIDGETS = {  # class -> its widget names in the UI's order (None: a UI-only widget)
    "CheckpointLoaderSimple": ("ckpt_name",), "CLIPTextEncode": ("text",),
    "LoadImage": ("image", None), "ImageScaleToTotalPixels": ("upscale_method", "megapixels",
                                                             "resolution_steps"),
    "ImagePadForOutpaint": ("left", "top", "right", "bottom", "feathering"),
    "InpaintModelConditioning": ("noise_mask",), "InstructPixToPixConditioning": (),
    "KSampler": ("seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "LatentComposite": ("x", "y", "feather"), "LatentCompositeMasked": ("x", "y", "resize_source"),
    "VAEDecodeTiled": ("tile_size", "overlap", "temporal_size", "temporal_overlap"),
    "VAEEncodeTiled": ("tile_size", "overlap", "temporal_size", "temporal_overlap"),
    "VAEDecode": (), "SaveAnimatedWEBP": ("filename_prefix", "fps", "lossless", "quality",
                                          "method"),
    "SaveAnimatedPNG": ("filename_prefix", "fps", "compress_level"),
}
UI_ONLY_VALUES = {"LoadImage": "image", "KSampler": "fixed"}

# ComfyUI's INPUT_TYPES of the classes exported here: required inputs and combo choices
REQUIRED = {
    "ImageScaleToTotalPixels": {"image", "upscale_method", "megapixels", "resolution_steps"},
    "ImagePadForOutpaint": {"image", "left", "top", "right", "bottom", "feathering"},
    "LatentComposite": {"samples_to", "samples_from", "x", "y", "feather"},
    "LatentCompositeMasked": {"destination", "source", "x", "y", "resize_source"},
    "InpaintModelConditioning": {"positive", "negative", "vae", "pixels", "mask", "noise_mask"},
    "InstructPixToPixConditioning": {"positive", "negative", "vae", "pixels"},
    "VAEDecodeTiled": {"samples", "vae", "tile_size", "overlap", "temporal_size",
                       "temporal_overlap"},
    "VAEEncodeTiled": {"pixels", "vae", "tile_size", "overlap", "temporal_size",
                       "temporal_overlap"},
    "SaveAnimatedWEBP": {"images", "filename_prefix", "fps", "lossless", "quality", "method"},
    "SaveAnimatedPNG": {"images", "filename_prefix", "fps", "compress_level"},
}
COMBOS = {("ImageScaleToTotalPixels", "upscale_method"):
          ("nearest-exact", "bilinear", "area", "bicubic", "lanczos"),
          ("SaveAnimatedWEBP", "method"): ("default", "fastest", "slowest")}
RANGES = {"tile_size": (64, 4096), "overlap": (0, 4096), "quality": (0, 100),
          "compress_level": (0, 9), "megapixels": (0.01, 16.0), "resolution_steps": (1, 256),
          "feathering": (0, 8192), "x": (0, 16384), "y": (0, 16384), "feather": (0, 16384)}


def to_ui(api: dict[str, Any]) -> dict[str, Any]:
    """The UI (LiteGraph 0.4) document of an API prompt: nodes with typed slots and widget
    values in the UI's order, links as [id, from, slot, to, slot, type]."""
    links: list[list[Any]] = []
    outgoing: dict[tuple[str, int], list[int]] = {}
    nodes = []
    for order, (node_id, item) in enumerate(api.items()):
        cls, inputs = item["class_type"], item["inputs"]
        slots = []
        for name, value in inputs.items():
            if isinstance(value, list):
                source, slot = value
                kind = OUTPUT_TYPES[api[source]["class_type"]][slot]
                link_id = len(links) + 1
                links.append([link_id, int(source), slot, int(node_id), len(slots), kind])
                outgoing.setdefault((source, slot), []).append(link_id)
                slots.append({"name": name, "type": kind, "link": link_id})
        widgets = [UI_ONLY_VALUES[cls] if name is None else inputs[name]
                   for name in WIDGETS[cls]]
        node = {"id": int(node_id), "type": cls, "pos": [300.0 * order, 100.0],
                "size": [315, 106], "flags": {}, "order": order, "mode": 0, "inputs": slots,
                "properties": {"Node name for S&R": cls}, "widgets_values": widgets}
        nodes.append(node)
    for node in nodes:
        node["outputs"] = [{"name": kind, "type": kind, "slot_index": slot,
                            "links": outgoing.get((str(node["id"]), slot), [])}
                           for slot, kind in enumerate(OUTPUT_TYPES[node["type"]])]
    return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": len(links),
            "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}}, "version": 0.4}


def outpaint_api() -> dict[str, Any]:
    return copy.deepcopy(OUTPAINT_API)


def ip2p_api() -> dict[str, Any]:
    return copy.deepcopy(IP2P_API)
