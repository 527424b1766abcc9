"""Load Hypernetwork: AUTOMATIC1111's hypernetworks (ComfyUI's HypernetworkLoader)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Float, Link, Output, String, node
from node_api.ports import MODEL
from nodes._models import model_fingerprint, resolve_model

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel


@node(
    "loaders.hypernetwork",
    title="Load Hypernetwork",
    category="loaders",
    description="Apply a hypernetwork (an AUTOMATIC1111 .pt file from the hypernetworks "
    "folder) to the model's attention layers, like ComfyUI's HypernetworkLoader. The input "
    "model is not changed.",
    inputs=[
        Link("model", MODEL),
        String("hypernetwork", "", kind="model:hypernetworks",
               description="Hypernetwork file in the hypernetworks folder."),
        Float("strength", 1.0, min=-10.0, max=10.0, step=0.01,
              description="How strongly it changes the attention inputs."),
    ],
    outputs=[Output("model", MODEL, "The model with the hypernetwork applied.")],
    fingerprint=model_fingerprint("hypernetwork", "hypernetworks"),
)
def load_hypernetwork(ctx: NodeContext, model: DiffusionModel, hypernetwork: str,
                      strength: float) -> DiffusionModel:
    from pipelines.loading.hypernetwork import read_hypernetwork, with_hypernetwork

    path = resolve_model(hypernetwork, "hypernetworks")
    return with_hypernetwork(model, read_hypernetwork(path), strength, str(path))
