"""ComfyUI UI documents with group nodes and subgraphs, in the shapes the front end saves:
the default txt2img graph (comfy_docs.UI) with its sampler and decoder collapsed into a group
node (``extra.groupNodes``, front end 1.2) or a subgraph (``definitions.subgraphs``, front
end 1.24+), and the two prompts in a second, older-style (``workflow/``) group node."""

from __future__ import annotations

import copy
from typing import Any

from tests.interop.comfy_docs import SEED, _in, _node, _out

NEW_SEED = 42
PROMPT = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
# the sampler and decoder as they were when the group was made (ids and links of the
# original graph stay in the saved copies, as vintageClipboard's serialise leaves them)
_SAMPLER = _node(3, "KSampler", [863, 186],
                 [_in("model", "MODEL", 11), _in("positive", "CONDITIONING", 4),
                  _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 2)],
                 [_out("LATENT", "LATENT", [7])],
                 [SEED, "randomize", 20, 8, "euler", "normal", 1], order=4)
_DECODE = _node(8, "VAEDecode", [1209, 188], [_in("samples", "LATENT", 7), _in("vae", "VAE", 8)],
                [_out("IMAGE", "IMAGE", [9])], order=5)
_POSITIVE = _node(6, "CLIPTextEncode", [415, 186], [_in("clip", "CLIP", 3)],
                  [_out("CONDITIONING", "CONDITIONING", [4])], [PROMPT], order=2)
_NEGATIVE = _node(7, "CLIPTextEncode", [413, 389], [_in("clip", "CLIP", 5)],
                  [_out("CONDITIONING", "CONDITIONING", [6])], ["text, watermark"], order=3)

GROUPED: dict[str, Any] = {
    "last_node_id": 13,
    "last_link_id": 12,
    "nodes": [
        _node(5, "EmptyLatentImage", [473, 609], [], [_out("LATENT", "LATENT", [2])],
              [512, 512, 1], order=0),
        _node(4, "CheckpointLoaderSimple", [26, 474], [],
              [_out("MODEL", "MODEL", [10]), _out("CLIP", "CLIP", [3, 5], 1),
               _out("VAE", "VAE", [8], 2)],
              ["v1-5-pruned-emaonly.safetensors"], order=1),
        _node(10, "Reroute", [700, 100], [_in("", "*", 10)], [_out("", "MODEL", [11])],
              order=2),
        _node(13, "workflow/Prompts", [415, 186],
              [_in("clip", "CLIP", 3), _in("CLIPTextEncode clip", "CLIP", 5)],
              [_out("CONDITIONING", "CONDITIONING", [4]),
               _out("CLIPTextEncode CONDITIONING", "CONDITIONING", [6], 1)],
              [PROMPT, "text, watermark"], order=3),
        # the group's widgets: the KSampler's, control_after_generate included, changed
        # after grouping (seed 42, 25 steps, cfg 7.5, karras)
        _node(12, "workflow>Sampler", [863, 186],
              [_in("model", "MODEL", 11), _in("positive", "CONDITIONING", 4),
               _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 2),
               _in("vae", "VAE", 8)],
              [_out("IMAGE", "IMAGE", [9])],
              [NEW_SEED, "fixed", 25, 7.5, "euler", "karras", 1], order=4),
        _node(9, "SaveImage", [1451, 189], [_in("images", "IMAGE", 9)], [], ["ComfyUI"],
              order=6),
    ],
    "links": [
        [2, 5, 0, 12, 3, "LATENT"], [3, 4, 1, 13, 0, "CLIP"], [4, 13, 0, 12, 1, "CONDITIONING"],
        [5, 4, 1, 13, 1, "CLIP"], [6, 13, 1, 12, 2, "CONDITIONING"], [8, 4, 2, 12, 4, "VAE"],
        [9, 12, 0, 9, 0, "IMAGE"], [10, 4, 0, 10, 0, "MODEL"], [11, 10, 0, 12, 0, "MODEL"],
    ],
    "groups": [],
    "config": {},
    "extra": {
        "ds": {"scale": 1.0, "offset": [0, 0]},
        "groupNodes": {
            "Sampler": {
                "nodes": [_SAMPLER | {"index": 0}, _DECODE | {"index": 1}],
                "links": [[0, 0, 1, 0, 3, "LATENT"]],
                "external": [[1, 0, "IMAGE"]],
            },
            "Prompts": {
                "nodes": [_POSITIVE | {"index": 0}, _NEGATIVE | {"index": 1}],
                "links": [],
                "external": [[0, 0, "CONDITIONING"], [1, 0, "CONDITIONING"]],
            },
        },
    },
    "version": 0.4,
}

SUBGRAPH_ID = "3f6b2c1e-8d4a-4e2b-9c7d-1a2b3c4d5e6f"
_IO = "0d3f0e5c-1b2a-4c3d-8e9f-0a1b2c3d4e5"


def _io(index: int, name: str, kind: str, links: list[int], widget: str | None = None
        ) -> dict[str, Any]:
    slot = {"id": f"{_IO}{index}", "name": name, "type": kind, "linkIds": links,
            "localized_name": name, "pos": [0, 0]}
    if widget:
        slot["widget"] = {"name": widget}
    return slot


def _link(link_id: int, origin: int, oslot: int, target: int, tslot: int, kind: str
          ) -> dict[str, Any]:
    return {"id": link_id, "origin_id": origin, "origin_slot": oslot, "target_id": target,
            "target_slot": tslot, "type": kind}


_INNER_SAMPLER = _node(3, "KSampler", [300, 100],
                       [_in("model", "MODEL", 1), _in("positive", "CONDITIONING", 2),
                        _in("negative", "CONDITIONING", 3), _in("latent_image", "LATENT", 4),
                        {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 7}],
                       [_out("LATENT", "LATENT", [6])],
                       [SEED, "randomize", 25, 7.5, "euler", "karras", 1], order=0)
_INNER_DECODE = _node(8, "VAEDecode", [650, 100],
                      [_in("samples", "LATENT", 6), _in("vae", "VAE", 5)],
                      [_out("IMAGE", "IMAGE", [8])], order=1)

WITH_SUBGRAPH: dict[str, Any] = {
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "revision": 0,
    "last_node_id": 14,
    "last_link_id": 12,
    "nodes": [
        copy.deepcopy(n) for n in (
            _node(5, "EmptyLatentImage", [473, 609], [], [_out("LATENT", "LATENT", [2])],
                  [512, 512, 1], order=0),
            _node(4, "CheckpointLoaderSimple", [26, 474], [],
                  [_out("MODEL", "MODEL", [10]), _out("CLIP", "CLIP", [3, 5], 1),
                   _out("VAE", "VAE", [8], 2)],
                  ["v1-5-pruned-emaonly.safetensors"], order=1),
            _POSITIVE, _NEGATIVE,
            _node(9, "SaveImage", [1451, 189], [_in("images", "IMAGE", 9)], [], ["ComfyUI"],
                  order=6),
        )
    ] + [
        _node(14, SUBGRAPH_ID, [863, 186],
              [_in("model", "MODEL", 10), _in("positive", "CONDITIONING", 4),
               _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 2),
               _in("vae", "VAE", 8),
               {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None}],
              [_out("IMAGE", "IMAGE", [9])], [NEW_SEED], order=4),
    ],
    "links": [
        [2, 5, 0, 14, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 14, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 14, 2, "CONDITIONING"], [8, 4, 2, 14, 4, "VAE"],
        [9, 14, 0, 9, 0, "IMAGE"], [10, 4, 0, 14, 0, "MODEL"],
    ],
    "groups": [],
    "definitions": {"subgraphs": [{
        "id": SUBGRAPH_ID, "version": 1, "revision": 0, "name": "Sample and decode",
        "state": {"lastGroupId": 0, "lastNodeId": 8, "lastLinkId": 8, "lastRerouteId": 0},
        "config": {},
        "inputNode": {"id": -10, "bounding": [0, 100, 120, 160]},
        "outputNode": {"id": -20, "bounding": [900, 100, 120, 60]},
        "inputs": [_io(0, "model", "MODEL", [1]), _io(1, "positive", "CONDITIONING", [2]),
                   _io(2, "negative", "CONDITIONING", [3]),
                   _io(3, "latent_image", "LATENT", [4]), _io(4, "vae", "VAE", [5]),
                   _io(5, "seed", "INT", [7])],
        "outputs": [_io(6, "IMAGE", "IMAGE", [8])],
        "widgets": [],
        "nodes": [_INNER_SAMPLER, _INNER_DECODE],
        "groups": [],
        "links": [_link(1, -10, 0, 3, 0, "MODEL"), _link(2, -10, 1, 3, 1, "CONDITIONING"),
                  _link(3, -10, 2, 3, 2, "CONDITIONING"), _link(4, -10, 3, 3, 3, "LATENT"),
                  _link(5, -10, 4, 8, 1, "VAE"), _link(6, 3, 0, 8, 0, "LATENT"),
                  _link(7, -10, 5, 3, 4, "INT"), _link(8, 8, 0, -20, 0, "IMAGE")],
        "extra": {},
    }]},
    "config": {},
    "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}, "frontendVersion": "1.25.11"},
    "version": 0.4,
}


def grouped() -> dict[str, Any]:
    return copy.deepcopy(GROUPED)


def with_subgraph() -> dict[str, Any]:
    return copy.deepcopy(WITH_SUBGRAPH)
