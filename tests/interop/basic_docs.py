"""A ComfyUI document for the small core nodes (issue 16), written as ComfyUI saves it: a
batch of two latents with a noise mask from LoadImageMask, one picked (LatentFromBatch) and
repeated, sampled, rotated, flipped, cropped and blended with the sampler's output, decoded,
inverted and batched with an EmptyImage. Plus these classes' input definitions in ComfyUI."""

from __future__ import annotations

import copy
from typing import Any

from tests.interop import imageops_docs

BASIC_API: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 128, "height": 128,
                                                       "batch_size": 2}},
    "29": {"class_type": "LoadImageMask", "inputs": {"image": "mask.png", "channel": "red"}},
    "30": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["5", 0],
                                                          "mask": ["29", 0]}},
    "20": {"class_type": "LatentFromBatch",
           "inputs": {"samples": ["30", 0], "batch_index": 1, "length": 1}},
    "21": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["20", 0], "amount": 2}},
    "3": {"class_type": "KSampler",
          "inputs": {"seed": 3, "steps": 2, "cfg": 7.0, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                     "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["21", 0]}},
    "22": {"class_type": "LatentRotate", "inputs": {"samples": ["3", 0],
                                                    "rotation": "90 degrees"}},
    "23": {"class_type": "LatentFlip", "inputs": {"samples": ["22", 0],
                                                  "flip_method": "y-axis: horizontally"}},
    "24": {"class_type": "LatentCrop", "inputs": {"samples": ["23", 0], "width": 64,
                                                  "height": 96, "x": 8, "y": 16}},
    "25": {"class_type": "LatentBlend", "inputs": {"samples1": ["24", 0],
                                                   "samples2": ["3", 0], "blend_factor": 0.25}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["25", 0], "vae": ["4", 2]}},
    "26": {"class_type": "ImageInvert", "inputs": {"image": ["8", 0]}},
    "27": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 48, "batch_size": 1,
                                                  "color": 0xFF8000}},
    "28": {"class_type": "ImageBatch", "inputs": {"image1": ["26", 0], "image2": ["27", 0]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["28", 0],
                                                "filename_prefix": "basic"}},
}

OUTPUT_TYPES = {
    **imageops_docs.OUTPUT_TYPES, "EmptyLatentImage": ("LATENT",), "LoadImageMask": ("MASK",),
    "SetLatentNoiseMask": ("LATENT",), "LatentFromBatch": ("LATENT",),
    "RepeatLatentBatch": ("LATENT",), "LatentRotate": ("LATENT",), "LatentFlip": ("LATENT",),
    "LatentCrop": ("LATENT",), "LatentBlend": ("LATENT",), "ImageInvert": ("IMAGE",),
    "EmptyImage": ("IMAGE",), "ImageBatch": ("IMAGE",), "SaveImage": (),
}
WIDGETS = {
    **imageops_docs.WIDGETS, "EmptyLatentImage": ("width", "height", "batch_size"),
    "LoadImageMask": ("image", "channel", None), "SetLatentNoiseMask": (),
    "LatentFromBatch": ("batch_index", "length"), "RepeatLatentBatch": ("amount",),
    "LatentRotate": ("rotation",), "LatentFlip": ("flip_method",),
    "LatentCrop": ("width", "height", "x", "y"), "LatentBlend": ("blend_factor",),
    "ImageInvert": (), "EmptyImage": ("width", "height", "batch_size", "color"),
    "ImageBatch": (), "SaveImage": ("filename_prefix",),
}

# ComfyUI's INPUT_TYPES of these classes: required inputs, combo choices, integer ranges
REQUIRED = {
    "LatentFromBatch": {"samples", "batch_index", "length"},
    "RepeatLatentBatch": {"samples", "amount"}, "LatentRotate": {"samples", "rotation"},
    "LatentFlip": {"samples", "flip_method"}, "LatentCrop": {"samples", "width", "height", "x",
                                                            "y"},
    "LatentBlend": {"samples1", "samples2", "blend_factor"}, "ImageInvert": {"image"},
    "ImageBatch": {"image1", "image2"}, "EmptyImage": {"width", "height", "batch_size", "color"},
    "LoadImageMask": {"image", "channel"},
}
COMBOS = {("LatentRotate", "rotation"): ("none", "90 degrees", "180 degrees", "270 degrees"),
          ("LatentFlip", "flip_method"): ("x-axis: vertically", "y-axis: horizontally"),
          ("LoadImageMask", "channel"): ("alpha", "red", "green", "blue")}
RANGES = {("LatentFromBatch", "batch_index"): (0, 63), ("LatentFromBatch", "length"): (1, 64),
          ("RepeatLatentBatch", "amount"): (1, 64), ("LatentCrop", "width"): (64, 16384),
          ("LatentCrop", "height"): (64, 16384), ("LatentBlend", "blend_factor"): (0, 1),
          ("EmptyImage", "width"): (1, 16384), ("EmptyImage", "height"): (1, 16384),
          ("EmptyImage", "batch_size"): (1, 4096), ("EmptyImage", "color"): (0, 0xFFFFFF)}


def basic_api() -> dict[str, Any]:
    return copy.deepcopy(BASIC_API)


def to_ui(api: dict[str, Any]) -> dict[str, Any]:
    """The UI document of ``api`` (imageops_docs' writer, with these classes' slots)."""
    saved = dict(imageops_docs.OUTPUT_TYPES), dict(imageops_docs.WIDGETS)
    imageops_docs.OUTPUT_TYPES.update(OUTPUT_TYPES)
    imageops_docs.WIDGETS.update(WIDGETS)
    imageops_docs.UI_ONLY_VALUES.setdefault("LoadImageMask", "image")
    try:
        return imageops_docs.to_ui(api)
    finally:
        for table, old in zip((imageops_docs.OUTPUT_TYPES, imageops_docs.WIDGETS), saved,
                              strict=True):
            table.clear()
            table.update(old)
