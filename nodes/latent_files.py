"""Latent files: Save Latent and Load Latent (ComfyUI's ``.latent`` safetensors files, which
hold the VAE's own latents; ours also record the model family they belong to)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node_api.context import NodeContext
from node_api.declaration import Link, Output, String, node
from node_api.errors import NodeInputError
from node_api.ports import LATENT

if TYPE_CHECKING:
    from pipelines.values import Latent

_FAMILY_HELP = ("Model family whose latent scaling the file is converted with (sd1, sd2, "
                "sdxl, sd3, flux_dev, ...); 'auto': ")


def _fingerprint(values: dict[str, Any]) -> Any:
    from nodes.image import _file_fingerprint
    from pipelines.loading.file_policy import input_dir

    path = Path(values.get("path", "")).expanduser()
    if not path.is_absolute():  # a relative name is looked up in the input folder
        path = input_dir() / path
    return _file_fingerprint({"path": str(path)})


@node(
    "latent.save",
    title="Save Latent",
    category="latent",
    is_output=True,
    description="Save the latent as a .latent file in the output folder (ComfyUI's format: "
    "the VAE's own latents; opens in ComfyUI's Load Latent), never overwriting a file.",
    inputs=[
        Link("latent", LATENT),
        String("filename_prefix", "latents", description="Start of the file name."),
        String("family", "auto", description=_FAMILY_HELP + "the model that made the latent."),
    ],
)
def save_latent(ctx: NodeContext, latent: Latent, filename_prefix: str, family: str) -> None:
    import itertools
    import json

    from node_api.files import MAX_WORKFLOW_CHARS, clean_stale_temps, write_new
    from pipelines.latent_files import LatentFileError, encode

    workflow = json.dumps(ctx.options.workflow) if ctx.options.workflow else ""
    try:
        data = encode(latent, family.strip(), workflow if len(workflow) <= MAX_WORKFLOW_CHARS
                      else "")
    except LatentFileError as exc:
        raise NodeInputError(exc.field, str(exc)) from None
    folder = Path(ctx.options.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(folder)
    safe = "".join(c for c in filename_prefix if c.isalnum() or c in "-_ ").strip() or "latent"
    numbers = [int(tail) for existing in folder.glob(f"{safe}_*.latent")
               if (tail := existing.stem[len(safe) + 1:]).isdigit()]
    start = max(numbers, default=0) + 1
    names = (f"{safe}_{n:05d}.latent" for n in itertools.count(start))
    ctx.wrote_file(write_new(folder, names, data))


@node(
    "latent.load",
    title="Load Latent",
    category="latent",
    description="Load a .latent file (ComfyUI's Save Latent or ours) from the input folder "
    "($STUDIO_INPUT), the output folder or $STUDIO_ALLOW_PATHS; safetensors only.",
    inputs=[
        String("path", "", kind="path", description="The .latent file; a relative name is "
               "looked up in the input folder."),
        String("family", "auto", description=_FAMILY_HELP + "the family the file records, "
               "else the one its channel count tells."),
    ],
    outputs=[Output("latent", LATENT)],
    fingerprint=_fingerprint,
)
def load_latent(ctx: NodeContext, path: str, family: str) -> Latent:
    from pipelines.latent_files import LatentFileError, read
    from pipelines.loading.file_policy import FileRefused, confine, input_dir
    from pipelines.loading.folders import image_roots

    if not path.strip():
        raise NodeInputError("path", "no latent file chosen (the path is empty)")
    file = Path(path).expanduser()
    if not file.is_absolute() and os.path.lexists(input_dir() / file):
        file = input_dir() / file
    if not os.path.lexists(file):
        raise NodeInputError("path", f"latent file {path!r} not found")
    try:
        confine(file, image_roots(ctx.options.output_dir), "latent file", path)
        return read(file, family.strip() or "auto")
    except FileRefused as exc:
        raise NodeInputError("path", str(exc)) from None
    except LatentFileError as exc:
        raise NodeInputError(exc.field, str(exc)) from None
