"""Hand-written ComfyUI documents in the shapes ComfyUI saves: its default txt2img graph in
the API ("prompt") format and in the UI (LiteGraph, version 0.4) format."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.engine.graph import Graph

SEED = 156680208700286

API: dict[str, Any] = {
    "3": {"inputs": {"seed": SEED, "steps": 20, "cfg": 8, "sampler_name": "euler",
                     "scheduler": "normal", "denoise": 1, "model": ["4", 0],
                     "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]},
          "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
          "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load Checkpoint"}},
    "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1},
          "class_type": "EmptyLatentImage", "_meta": {"title": "Empty Latent Image"}},
    "6": {"inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple "
                             "galaxy bottle,", "clip": ["4", 1]},
          "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]},
          "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]},
          "class_type": "VAEDecode", "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
          "class_type": "SaveImage", "_meta": {"title": "Save Image"}},
}


def _node(node_id: int, kind: str, pos: list[float], inputs: list, outputs: list,
          widgets: list | None = None, order: int = 0, **extra: Any) -> dict[str, Any]:
    node = {"id": node_id, "type": kind, "pos": pos, "size": [315, 106], "flags": {},
            "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": kind}}
    if widgets is not None:
        node["widgets_values"] = widgets
    node.update(extra)
    return node


def _in(name: str, kind: str, link: int | None) -> dict[str, Any]:
    return {"name": name, "type": kind, "link": link}


def _out(name: str, kind: str, links: list[int], slot: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "links": links, "slot_index": slot}


UI: dict[str, Any] = {
    "last_node_id": 11,
    "last_link_id": 12,
    "nodes": [
        _node(7, "CLIPTextEncode", [413, 389], [_in("clip", "CLIP", 5)],
              [_out("CONDITIONING", "CONDITIONING", [6])], ["text, watermark"], order=3),
        _node(6, "CLIPTextEncode", [415, 186], [_in("clip", "CLIP", 3)],
              [_out("CONDITIONING", "CONDITIONING", [4])],
              ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"],
              order=2),
        _node(5, "EmptyLatentImage", [473, 609], [], [_out("LATENT", "LATENT", [2])],
              [512, 512, 1], order=0),
        # the sampler's model comes through a Reroute (node 10)
        _node(3, "KSampler", [863, 186],
              [_in("model", "MODEL", 11), _in("positive", "CONDITIONING", 4),
               _in("negative", "CONDITIONING", 6), _in("latent_image", "LATENT", 2)],
              [_out("LATENT", "LATENT", [7])],
              [SEED, "randomize", 20, 8, "euler", "normal", 1], order=4),
        _node(8, "VAEDecode", [1209, 188],
              [_in("samples", "LATENT", 7), _in("vae", "VAE", 8)],
              [_out("IMAGE", "IMAGE", [9])], order=5),
        _node(9, "SaveImage", [1451, 189], [_in("images", "IMAGE", 9)], [], ["ComfyUI"],
              order=6),
        _node(4, "CheckpointLoaderSimple", [26, 474], [],
              [_out("MODEL", "MODEL", [10]), _out("CLIP", "CLIP", [3, 5], 1),
               _out("VAE", "VAE", [8], 2)],
              ["v1-5-pruned-emaonly.safetensors"], order=1),
        _node(10, "Reroute", [700, 100], [_in("", "*", 10)], [_out("", "MODEL", [11])],
              order=2),
        _node(11, "Note", [30, 30], [], [], ["A note that ComfyUI never runs."]),
    ],
    "links": [
        [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"], [10, 4, 0, 10, 0, "MODEL"],
        [11, 10, 0, 3, 0, "MODEL"],
    ],
    "groups": [],
    "config": {},
    "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
    "version": 0.4,
}


def api() -> dict[str, Any]:
    return copy.deepcopy(API)


def ui() -> dict[str, Any]:
    return copy.deepcopy(UI)


def canonical(graph: Graph) -> tuple:
    """The graph without ids or positions: nodes by title, links by titles."""
    nodes = sorted((n.title, n.type, json.dumps(n.values, sort_keys=True))
                   for n in graph.nodes.values())
    title = {i: n.title for i, n in graph.nodes.items()}
    edges = sorted((title[e.source], e.output, title[e.target], e.input) for e in graph.edges)
    return nodes, edges
