"""The server as a network service: confinement, limits, tokens, origins, bad input."""

from __future__ import annotations

import io
import json
import os
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.server.comfy_client import ComfyClient, error_json, http_error


def _png(size: tuple[int, int] = (8, 8), color: tuple[int, ...] = (255, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(address: str, filename: str, data: bytes, path: str = "/upload/image",
           **fields: str) -> tuple[int, Any]:
    """A multipart upload as a browser (or ComfyUI's front end) sends it."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             .encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                 f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                 + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"http://{address}{path}", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def request(address: str, path: str, data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    req = urllib.request.Request(f"http://{address}{path}", data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.fixture
def server(start_server: Any) -> Any:
    return start_server(max_body_bytes=256 << 10, max_json_bytes=32 << 10)


def test_uploads_land_in_the_input_folder_and_view_reads_them_back(server: Any) -> None:
    address = f"127.0.0.1:{server.port}"
    data = _png()
    assert upload(address, "red.png", data) == (200, {"name": "red.png", "subfolder": "",
                                                      "type": "input"})
    assert (server.config.input_dir / "red.png").read_bytes() == data
    # the same bytes again reuse the file; other bytes get a new name, never overwrite
    assert upload(address, "red.png", data)[1]["name"] == "red.png"
    assert upload(address, "red.png", _png(color=(0, 0, 255)))[1]["name"] == "red (1).png"
    assert upload(address, "red.png", _png(color=(0, 255, 0)), subfolder="masks") == (
        200, {"name": "red.png", "subfolder": "masks", "type": "input"})
    client = ComfyClient(address)
    assert client.get_image("red.png", "", "input") == data


@pytest.mark.parametrize(("filename", "fields"), [
    ("../escape.png", {}),
    ("/tmp/escape.png", {}),
    ("ok.png", {"subfolder": "..\\.."}),
    ("ok.png", {"subfolder": "../.."}),
    ("ok.png", {"subfolder": "/etc"}),
    ("ok.png", {"type": "models"}),
])
def test_uploads_never_leave_their_folder(server: Any, filename: str,
                                          fields: dict[str, str]) -> None:
    status, body = upload(f"127.0.0.1:{server.port}", filename, _png(), **fields)
    assert status == 400 and body["error"]["type"] == "invalid_upload"
    root = server.config.input_dir.parent
    assert not list(root.parent.glob("escape.png")) and not (root / "escape.png").exists()


def test_an_upload_through_a_symlinked_subfolder_is_refused(server: Any, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (server.config.input_dir / "link").symlink_to(outside)
    status, _ = upload(f"127.0.0.1:{server.port}", "x.png", _png(), subfolder="link")
    assert status == 400 and not (outside / "x.png").exists()


def test_an_upload_must_decode_as_an_image(server: Any) -> None:
    address = f"127.0.0.1:{server.port}"
    status, body = upload(address, "evil.png", b"#!/bin/sh\necho not an image\n")
    assert status == 400 and "not a readable image" in body["error"]["message"]
    truncated = _png()[:40]
    assert upload(address, "cut.png", truncated)[0] == 400
    assert not list(server.config.input_dir.glob("*"))


def test_an_upload_past_the_pixel_limit_is_refused_before_decoding(start_server: Any) -> None:
    server = start_server(max_image_pixels=1000)
    status, body = upload(f"127.0.0.1:{server.port}", "big.png", _png((64, 64)))
    assert status == 400 and "pixels" in body["error"]["message"]


def test_mask_upload_puts_the_mask_alpha_on_the_original(server: Any) -> None:
    address = f"127.0.0.1:{server.port}"
    upload(address, "photo.png", _png((8, 8)))
    mask = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(mask, format="PNG")
    ref = json.dumps({"filename": "photo.png", "subfolder": "", "type": "input"})
    status, body = upload(address, "clipspace-mask.png", mask.getvalue(), path="/upload/mask",
                          original_ref=ref)
    assert status == 200
    result = Image.open(server.config.input_dir / body["name"])
    assert result.mode == "RGBA" and result.getpixel((0, 0)) == (255, 0, 0, 0)
    bad_ref = json.dumps({"filename": "../../secret.png", "type": "input"})
    assert upload(address, "m.png", mask.getvalue(), path="/upload/mask",
                  original_ref=bad_ref)[0] == 400


@pytest.mark.parametrize("query", [
    "filename=..%2F..%2Fetc%2Fpasswd&type=output",
    "filename=%2Fetc%2Fpasswd&type=output",
    "filename=passwd&subfolder=..%2F..%2F..%2Fetc&type=output",
    "filename=passwd&subfolder=%2Fetc&type=output",
    "filename=x.png&type=..",
    "filename=x.png%00.png&type=output",
])
def test_view_never_leaves_its_folders(server: Any, query: str) -> None:
    status, body, _ = request(f"127.0.0.1:{server.port}", f"/view?{query}")
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_path"


def test_view_refuses_a_symlink_out_of_the_output_folder(server: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png())
    server.config.output_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, server.config.output_dir / "link.png")
    status, _, _ = request(f"127.0.0.1:{server.port}", "/view?filename=link.png&type=output")
    assert status == 400
    status, _, _ = request(f"127.0.0.1:{server.port}", "/view?filename=none.png&type=output")
    assert status == 404


def test_oversized_bodies_are_refused_with_413(server: Any) -> None:
    address = f"127.0.0.1:{server.port}"
    big_prompt = json.dumps({"prompt": {"1": {"class_type": "x" * (40 << 10)}}}).encode()
    status, body, _ = request(address, "/prompt", big_prompt)
    assert status == 413 and json.loads(body)["error"]["type"] == "request_too_large"
    status, body = upload(address, "huge.png", b"\0" * (300 << 10))
    assert status == 413 and body["error"]["type"] == "request_too_large"
    assert not list(server.config.input_dir.glob("*"))


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"a": 1, "a": 2}',
                                  b"[" * 5000 + b"]" * 5000])
def test_malformed_json_gets_400_and_the_server_lives_on(server: Any, data: bytes) -> None:
    address = f"127.0.0.1:{server.port}"
    for path in ("/prompt", "/queue", "/history", "/interrupt"):
        status, body, headers = request(address, path, data)
        assert status == 400, path
        assert headers["Content-Type"].startswith("application/json")
        assert "Traceback" not in body.decode()
    assert request(address, "/queue")[0] == 200


def test_a_token_is_required_when_set(start_server: Any) -> None:
    server = start_server(token="s3cret")
    address = f"127.0.0.1:{server.port}"
    assert request(address, "/queue")[0] == 401
    assert request(address, "/queue", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert request(address, "/queue", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert request(address, "/queue?token=s3cret")[0] == 200
    with pytest.raises(Exception):  # noqa: B017 - the socket handshake is refused too
        ComfyClient(address).connect()
    ComfyClient(address, token="s3cret").connect().close()


def test_cross_origin_requests_are_refused_and_never_allowed_by_cors(server: Any) -> None:
    address = f"127.0.0.1:{server.port}"
    foreign = {"Origin": "http://evil.example"}
    status, _, headers = request(address, "/prompt", b'{"prompt": {}}', foreign)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    assert request(address, "/interrupt", b"{}", {"Origin": "http://127.0.0.1:1"})[0] == 403
    assert request(address, "/queue", headers={"Origin": "null"})[0] == 403
    same = {"Origin": f"http://{address}"}
    status, _, headers = request(address, "/queue", headers=same)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    # a DNS-rebinding page reaches 127.0.0.1 under its own host name
    rebound = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
    assert request(address, "/queue", headers=rebound)[0] == 403


def test_unknown_endpoints_answer_json_404(server: Any) -> None:
    status, body, _ = request(f"127.0.0.1:{server.port}", "/nope")
    assert status == 404 and json.loads(body)["error"]["type"] == "http_error"
    exc = http_error(lambda: ComfyClient(f"127.0.0.1:{server.port}").get_json("/models/nope"))
    assert exc.code == 404 and error_json(exc)["error"]["type"] == "not_found"
