"""The pure checks under the endpoints: confined names and same-origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.server.config import ServerConfig, is_loopback
from app.server.paths import PathRefused, confined, split_annotation
from app.server.security import same_origin


def _config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(data_dir=tmp_path / "data", input_dir=tmp_path / "in",
                        output_dir=tmp_path / "out")


def test_confined_names_stay_in_their_folder(tmp_path: Path) -> None:
    config = _config(tmp_path)
    root = (tmp_path / "out").resolve()
    assert confined(config, "output", "", "a.png") == root / "a.png"
    assert confined(config, "output", "x/y", "a.png") == root / "x" / "y" / "a.png"
    assert confined(config, "temp", "", "a.png") == (tmp_path / "data" / "temp" / "a.png").resolve()
    for kind, sub, name in [("output", "", "../a.png"), ("output", "..", "a.png"),
                            ("output", "x/../..", "a.png"), ("output", "", "/etc/passwd"),
                            ("output", "C:\\\\Windows", "a.png"), ("output", "", "a\x00.png"),
                            ("output", "", ""), ("output", "", "."), ("models", "", "a.png"),
                            ("output", "", "x/a.png")]:
        with pytest.raises(PathRefused):
            confined(config, kind, sub, name)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "out" / "door").symlink_to(tmp_path / "secret")
    with pytest.raises(PathRefused):
        confined(config, "output", "door", "a.png")
    (tmp_path / "out" / "inner").mkdir()
    (tmp_path / "out" / "ok").symlink_to(tmp_path / "out" / "inner")
    assert confined(config, "output", "ok", "a.png").parent.name == "inner"


def test_annotated_names() -> None:
    assert split_annotation("a.png [output]", "input") == ("a.png", "output")
    assert split_annotation("sub/a b.png", "input") == ("sub/a b.png", "input")
    assert split_annotation("a.png [models]", "input") == ("a.png [models]", "input")


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://127.0.0.1:8188", "127.0.0.1:8188", True),
    ("http://localhost:8188", "localhost:8188", True),
    ("http://localhost", "localhost:80", True),
    ("http://localhost:8188", "127.0.0.1:8188", False),
    ("http://127.0.0.1:3000", "127.0.0.1:8188", False),
    ("https://evil.example", "127.0.0.1:8188", False),
    ("null", "127.0.0.1:8188", False),
    ("http://[::1]:8188", "[::1]:8188", True),
    ("http://127.0.0.1:99999", "127.0.0.1:8188", False),
])
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host, "http") is same


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.com")
