"""Prompts ComfyUI would refuse are refused in its shape; the info endpoints answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.comfy_client import ComfyClient, error_json, http_error
from tests.server.conftest import default_prompt


@pytest.fixture
def client(start_server: Any) -> ComfyClient:
    return ComfyClient(f"127.0.0.1:{start_server().port}")


def _refusal(client: ComfyClient, prompt: Any) -> dict[str, Any]:
    exc = http_error(lambda: client.queue_prompt(prompt))
    assert exc.code == 400
    body = error_json(exc)
    assert set(body["error"]) == {"type", "message", "details", "extra_info"}
    return body


def test_an_invalid_value_names_the_node_and_its_outputs(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["6"]["inputs"]["steps"] = 0
    body = _refusal(client, prompt)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    sampler = body["node_errors"]["6"]
    assert sampler["class_type"] == "KSampler" and sampler["dependent_outputs"] == ["9"]
    (error,) = sampler["errors"]
    assert set(error) == {"type", "message", "details", "extra_info"}
    assert error["extra_info"]["input_name"] == "steps" and "steps" in error["details"]
    assert client.get_json("/queue")["queue_pending"] == []


def test_a_missing_link_is_a_required_input(client: ComfyClient) -> None:
    prompt = default_prompt()
    del prompt["7"]["inputs"]["vae"]
    body = _refusal(client, prompt)
    assert body["node_errors"]["7"]["errors"][0]["type"] == "required_input_missing"


def test_an_unknown_class_and_a_prompt_without_outputs(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["99"] = {"class_type": "NoSuchNode", "inputs": {}}
    body = _refusal(client, prompt)
    assert body["error"]["type"] == "invalid_prompt" and "NoSuchNode" in body["error"]["message"]
    prompt = {k: v for k, v in default_prompt().items() if v["class_type"] != "SaveImage"}
    assert _refusal(client, prompt)["error"]["type"] == "prompt_no_outputs"


@pytest.mark.parametrize("prompt", [None, [], {}, {"1": "x"}, {"1": {"inputs": {}}},
                                    {"1": {"class_type": "SaveImage", "inputs": []}}])
def test_malformed_prompts_are_invalid(client: ComfyClient, prompt: Any) -> None:
    assert _refusal(client, prompt)["error"]["type"] == "invalid_prompt"


def test_a_link_to_a_missing_node(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["7"]["inputs"]["samples"] = ["77", 0]
    body = _refusal(client, prompt)
    assert "#77" in body["node_errors"]["7"]["errors"][0]["message"]
    assert body["node_errors"]["7"]["dependent_outputs"] == ["9"]


def test_load_image_may_not_name_files_outside_the_folders(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["20"] = {"class_type": "LoadImage", "inputs": {"image": "../../etc/passwd"}}
    prompt["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}}
    body = _refusal(client, prompt)
    assert body["node_errors"]["20"]["class_type"] == "LoadImage"
    assert body["node_errors"]["20"]["dependent_outputs"] == ["21"]


def test_no_prompt_key(client: ComfyClient) -> None:
    exc = http_error(lambda: client.post_json("/prompt", {"client_id": "x"}))
    assert exc.code == 400 and error_json(exc)["error"]["type"] == "no_prompt"


def test_the_info_endpoints(client: ComfyClient) -> None:
    info = client.get_json("/object_info")
    assert {"KSampler", "CheckpointLoaderSimple", "SaveImage"} <= set(info)
    assert client.get_json("/object_info/KSampler")["KSampler"]["input"]["required"]["model"] \
        == ["MODEL", {}]
    stats = client.get_json("/system_stats")
    assert {"os", "ram_total", "python_version", "pytorch_version"} <= set(stats["system"])
    assert stats["devices"][0]["type"] == "cpu"
    assert isinstance(client.get_json("/embeddings"), list)
    assert "checkpoints" in client.get_json("/models")
    assert isinstance(client.get_json("/models/checkpoints"), list)
    assert "diffusion_models" in client.get_json("/models")  # ComfyUI's folder names
    assert client.get_json("/models/unet") == client.get_json("/models/diffusion_models")
    assert client.get_json("/prompt") == {"exec_info": {"queue_remaining": 0}}
    assert client.get_json("/api/queue") == {"queue_running": [], "queue_pending": []}
    assert client.get_json("/history/unknown") == {}


def test_what_the_import_changes_comes_back_as_warnings(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["6"]["inputs"]["sampler_name"] = "no_such_sampler"
    answer = client.queue_prompt(prompt, number=float("nan"))  # not a usable queue position
    assert answer["node_errors"] == {} and "no_such_sampler" in answer["warnings"][0]
    assert answer["number"] == 0
    client.post_json("/interrupt", {})


def test_a_model_that_is_not_there_is_refused_before_queueing(client: ComfyClient) -> None:
    prompt = default_prompt()
    prompt["1"]["inputs"]["ckpt_name"] = "not-there.safetensors"
    body = _refusal(client, prompt)
    (error,) = body["node_errors"]["1"]["errors"]
    assert error["type"] == "value_not_in_list" and "not-there" in error["details"]
    assert body["node_errors"]["1"]["class_type"] == "CheckpointLoaderSimple"
