"""WebP files open as workflows: ours (Save Animated) and ComfyUI's SaveAnimatedWEBP (the API
prompt and the UI workflow in EXIF tags); damaged ones are one line naming the file."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from app.engine.workflow import WorkflowError, to_document
from app.interop.open import open_workflow
from nodes._animated import save_animated
from tests.interop import comfy_docs


def test_our_animated_webp_opens_again(registry, tmp_path):
    graph = open_workflow_from_doc(registry)
    path = save_animated(torch.rand(2, 8, 8, 3), tmp_path, "a", to_document(graph), "webp", 6.0)
    again = open_workflow(path, registry)
    assert comfy_docs.canonical(again) == comfy_docs.canonical(graph)


def open_workflow_from_doc(registry):
    from app.interop.comfy import load_comfy

    return load_comfy(comfy_docs.api(), "api.json", registry)


def test_comfyuis_animated_webp_opens(registry, tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    exif = frames[0].getexif()
    exif[0x0110] = "prompt:" + json.dumps(comfy_docs.api())
    exif[0x010F] = "workflow:" + json.dumps(comfy_docs.ui())
    path = tmp_path / "ComfyUI_00001_.webp"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, exif=exif)
    graph = open_workflow(path, registry)
    assert graph.metadata["comfyui"]["source_format"] == "comfyui-api"
    assert {n.type for n in graph.nodes.values()} >= {"sampling.sampler", "image.save"}


@pytest.mark.parametrize("content", [b"RIFF\x10\x00\x00\x00WEBPEXIF\xff\xff\xff\x7f",
                                     b"RIFF\x20\x00\x00\x00WEBPEXIF\x08\x00\x00\x00garbage!"])
def test_damaged_webp_is_one_line(registry, tmp_path, content):
    path = tmp_path / "broken.webp"
    path.write_bytes(content)
    with pytest.raises(WorkflowError) as caught:
        open_workflow(path, registry)
    assert "broken.webp" in str(caught.value) and "\n" not in str(caught.value)


def test_a_webp_without_workflow_says_so(registry, tmp_path):
    path = tmp_path / "plain.webp"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(WorkflowError, match="WebP carries no workflow"):
        open_workflow(path, registry)
