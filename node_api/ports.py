"""Port types: what may flow along a link, and the kinds of value inputs.

Types are plain strings so that workflow files, the GUI and the CLI can name them.
"""

from __future__ import annotations

MODEL = "MODEL"
CLIP = "CLIP"
VAE = "VAE"
CONDITIONING = "CONDITIONING"
LATENT = "LATENT"
NOISE = "NOISE"
IMAGE = "IMAGE"
MASK = "MASK"
UPSCALE_MODEL = "UPSCALE_MODEL"
# unCLIP (DALL-E 2, Kandinsky 2.2): a prior (text -> CLIP image embedding), a CLIP vision
# encoder, and the CLIP image embeddings they produce
PRIOR = "PRIOR"
CLIP_VISION = "CLIP_VISION"
IMAGE_EMBEDDING = "IMAGE_EMBEDDING"
# Karlo's pixel cascade after the prior: decoder + text projection + super-resolution UNets
UNCLIP_DECODER = "UNCLIP_DECODER"
# IP-Adapter weights (image projection + cross-attention key/value layers), before applying
IP_ADAPTER = "IP_ADAPTER"
# a ControlNet or T2I-Adapter (Load ControlNet -> Apply ControlNet)
CONTROL_NET = "CONTROL_NET"
# split ("custom") sampling, as ComfyUI's: a sampling method, a noise schedule (explicit
# sigmas) and a guider (the model with its conditionings and guidance)
# GLIGEN layers from a file (Load GLIGEN), for phrases placed in boxes
GLIGEN = "GLIGEN"
# a style model (Flux Redux: image tokens appended to the text tokens)
STYLE_MODEL = "STYLE_MODEL"
SAMPLER = "SAMPLER"
SIGMAS = "SIGMAS"
GUIDER = "GUIDER"
# Values that are networks: the process-wide model cache (with its memory budgets) owns them,
# so the executor keeps them only while the latest run uses them.
# (a guider and a model's schedule hold the model they were made for)
NETWORK_TYPES: frozenset[str] = frozenset({MODEL, CLIP, VAE, UPSCALE_MODEL, PRIOR, CLIP_VISION,
                                          GUIDER, SIGMAS,
                                          UNCLIP_DECODER, CONTROL_NET, STYLE_MODEL})

LINK_TYPES: tuple[str, ...] = (
    MODEL,
    CLIP,
    VAE,
    CONDITIONING,
    LATENT,
    NOISE,
    IMAGE,
    MASK,
    UPSCALE_MODEL,
    PRIOR,
    CLIP_VISION,
    IMAGE_EMBEDDING,
    UNCLIP_DECODER,
    IP_ADAPTER,
    CONTROL_NET,
    GLIGEN,
    STYLE_MODEL,
    SAMPLER,
    SIGMAS,
    GUIDER,
)

INT = "INT"
FLOAT = "FLOAT"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
CHOICE = "CHOICE"

VALUE_TYPES: tuple[str, ...] = (INT, FLOAT, STRING, BOOLEAN, CHOICE)

ANY = "*"


def compatible(output_type: str, input_type: str) -> bool:
    """Whether an output of ``output_type`` may feed an input of ``input_type``."""
    return output_type == input_type or ANY in (output_type, input_type)


# A value input (a widget) may be fed by a link instead: from an output of its own kind, an
# INT into a FLOAT, and a STRING into a CHOICE (the choice is checked when the value arrives).
_VALUE_FEEDS: dict[str, frozenset[str]] = {
    INT: frozenset({INT}),
    FLOAT: frozenset({FLOAT, INT}),
    STRING: frozenset({STRING}),
    BOOLEAN: frozenset({BOOLEAN}),
    CHOICE: frozenset({STRING, CHOICE}),
}


def feeds_value(output_type: str, value_type: str) -> bool:
    """Whether an output of ``output_type`` may drive a value input of ``value_type``."""
    return output_type == ANY or output_type in _VALUE_FEEDS.get(value_type, frozenset())
