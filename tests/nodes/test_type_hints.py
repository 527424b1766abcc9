"""Every node function is fully typed, and its hints say what its declaration says.

The hints are read as written (``from __future__ import annotations`` keeps them strings, so
``nodes/`` can name torch and pipelines types under ``TYPE_CHECKING`` without importing them):
a link input of port type MODEL must be hinted ``DiffusionModel``, an optional link
``X | None``, an INT value ``int``, the run context ``NodeContext``; the return hint names the
outputs' types (one type, a tuple of them, or ``None`` for a node without outputs).
"""

from __future__ import annotations

import inspect

import pytest

from app.engine.registry import default_registry
from node_api import ports
from node_api.declaration import Link, NodeSpec

HINTS = {
    ports.MODEL: "DiffusionModel", ports.CLIP: "TextEncoder", ports.VAE: "Vae",
    ports.CONDITIONING: "Conditioning", ports.LATENT: "Latent", ports.NOISE: "Noise",
    ports.IMAGE: "Tensor", ports.MASK: "Tensor", ports.UPSCALE_MODEL: "UpscaleModel",
    ports.PRIOR: "Prior", ports.CLIP_VISION: "ClipVision",
    ports.IMAGE_EMBEDDING: "ImageEmbedding", ports.UNCLIP_DECODER: "UnclipDecoder",
    ports.IP_ADAPTER: "IPAdapterWeights", ports.CONTROL_NET: "ControlNet",
    ports.GLIGEN: "GligenWeights", ports.STYLE_MODEL: "ReduxImageEncoder",
    ports.SAMPLER: "SamplerChoice", ports.SIGMAS: "Sigmas", ports.GUIDER: "Guider",
    ports.ANY: "Any", ports.INT: "int", ports.FLOAT: "float", ports.STRING: "str",
    ports.BOOLEAN: "bool", ports.CHOICE: "str",
}

SPECS = [spec for spec in default_registry() if spec.func.__module__.startswith("nodes.")]


def hint(value: object) -> str:
    return value if isinstance(value, str) else getattr(value, "__name__", repr(value))


def expected(spec: NodeSpec) -> tuple[dict[str, str], str]:
    params = {"ctx": "NodeContext"}
    for item in spec.inputs:
        text = HINTS[item.type]
        params[item.name] = f"{text} | None" if isinstance(item, Link) and item.optional else text
    outputs = [HINTS[o.type] for o in spec.outputs]
    returns = "None" if not outputs else outputs[0] if len(outputs) == 1 else \
        f"tuple[{', '.join(outputs)}]"
    return params, returns


def test_every_port_and_value_type_has_a_hint() -> None:
    assert set(ports.LINK_TYPES) | set(ports.VALUE_TYPES) | {ports.ANY} == set(HINTS)
    assert len(SPECS) > 30


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.type_id)
def test_node_functions_are_fully_typed_as_declared(spec: NodeSpec) -> None:
    signature = inspect.signature(spec.func)
    params, returns = expected(spec)
    found = {
        name: "" if p.annotation is inspect.Parameter.empty else hint(p.annotation)
        for name, p in signature.parameters.items()
    }
    assert found == params, f"{spec.func.__module__}.{spec.func.__name__}"
    assert signature.return_annotation is not inspect.Signature.empty, spec.type_id
    assert hint(signature.return_annotation) == returns, spec.type_id
