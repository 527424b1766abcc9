"""Learned upscalers: both ESRGAN key layouts, Real-ESRGAN compact, tiling, safe loading."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from pipelines.errors import ModelLoadError
from pipelines.loading.upscalers import (
    RRDBNet,
    SRVGGNetCompact,
    load_upscaler,
    upscale_with_model,
)


def _old_layout(state: dict[str, torch.Tensor], nb: int) -> dict[str, torch.Tensor]:
    """The original ESRGAN key names, as in files people still download."""
    names = {"conv_first": "model.0", "conv_body": f"model.1.sub.{nb}", "conv_up1": "model.3",
             "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    out = {}
    for key, value in state.items():
        head, *rest = key.split(".")
        if head == "body":
            block, rdb, conv, kind = rest
            out[f"model.1.sub.{block}.{rdb.upper()}.{conv}.0.{kind}"] = value
        else:
            out[f"{names[head]}.{rest[-1]}"] = value
    return out


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 20, 28, 3, generator=torch.Generator().manual_seed(0))


def test_rrdbnet_new_and_old_layouts_load_to_the_same_x4_model(tmp_path, image):
    torch.manual_seed(0)
    net = RRDBNet(nf=8, nb=2, gc=4, scale=4)
    save_file(net.state_dict(), tmp_path / "new.safetensors")
    torch.save(_old_layout(net.state_dict(), 2), tmp_path / "old.pth")
    new, old = load_upscaler(tmp_path / "new.safetensors"), load_upscaler(tmp_path / "old.pth")
    assert new.scale == old.scale == 4 and new.architecture == "RRDBNet"
    a, b = upscale_with_model(new, image, tile=0), upscale_with_model(old, image, tile=0)
    assert a.shape == (1, 80, 112, 3)
    assert torch.equal(a, b)


def test_rrdbnet_x2_with_pixel_unshuffle_is_detected(tmp_path, image):
    net = RRDBNet(nf=8, nb=1, gc=4, scale=2)
    save_file(net.state_dict(), tmp_path / "x2.safetensors")
    model = load_upscaler(tmp_path / "x2.safetensors")
    assert model.scale == 2
    assert upscale_with_model(model, image, tile=0).shape == (1, 40, 56, 3)


def test_compact_model_and_tiled_equals_untiled(tmp_path, image):
    torch.manual_seed(1)
    net = SRVGGNetCompact(nf=8, num_conv=2, scale=2)
    torch.save({"params": net.state_dict()}, tmp_path / "compact.pth")
    model = load_upscaler(tmp_path / "compact.pth")
    assert (model.architecture, model.scale) == ("SRVGGNetCompact", 2)
    whole = upscale_with_model(model, image, tile=0)
    calls = []
    tiled = upscale_with_model(model, image, tile=8, overlap=8,
                               on_tile=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (12, 12)  # 3 x 4 tiles
    # 4 conv layers see 4 px around each output pixel: an overlap of 8 makes tiles exact
    assert torch.allclose(whole, tiled, atol=1e-6)


def test_code_carrying_pickle_is_refused_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"params": Evil()}))
    with pytest.raises(ModelLoadError, match="(?i)evil.pth.*refused"):
        load_upscaler(tmp_path / "evil.pth")
    assert not marker.exists()


def test_unknown_architecture_is_a_clear_error(tmp_path):
    save_file({"foo.weight": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ModelLoadError, match="other.safetensors.*not a supported upscaler"):
        load_upscaler(tmp_path / "other.safetensors")
