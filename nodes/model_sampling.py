"""Model patch nodes: how a model is sampled (prediction type, zero terminal SNR, CFG rescale)
and the Step Cache (reuse the denoiser's output on steps where its input barely changes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Link, Output, node
from node_api.ports import MODEL
from pipelines.catalog import PREDICTION_NAMES

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel


@node(
    "model.sampling",
    title="Model Sampling",
    category="sampling",
    description="Override how the model is sampled, like ComfyUI's ModelSamplingDiscrete: "
    "its prediction type, zero terminal SNR, and guidance rescale. The input model is not "
    "changed; a patched copy comes out.",
    inputs=[
        Link("model", MODEL),
        Choice("prediction", "auto", choices=PREDICTION_NAMES,
               description="What the network predicts; auto keeps the model's own setting. "
               "v_prediction for SD 2.x 768 and v-pred fine-tunes (e.g. NoobAI v-pred); lcm: "
               "epsilon, for LCM-distilled models and LoRAs (the lcm sampler applies LCM's "
               "boundary conditions)."),
        Choice("zero_terminal_snr", "auto", choices=("auto", "on", "off"),
               description="on: rescale the noise schedule so the last step is pure noise and "
               "start sampling there (trailing timesteps), for models trained that way; off: "
               "never, even if the checkpoint says so; auto keeps the model's own setting."),
        Float("cfg_rescale", 0.0, min=0.0, max=1.0, step=0.05,
              description="Guidance rescale phi from \"Common Diffusion Noise Schedules and "
              "Sample Steps are Flawed\": pulls the guided prediction's spread back to the "
              "prompt's, against over-exposure; 0.7 is recommended with zero-terminal-SNR "
              "models, 0 turns it off."),
    ],
    outputs=[Output("model", MODEL, "The same networks, sampled with these settings.")],
)
def model_sampling(
    ctx: NodeContext, model: DiffusionModel, prediction: str, zero_terminal_snr: str,
    cfg_rescale: float
) -> DiffusionModel:
    from pipelines.sampling.samplers import with_sampling

    return with_sampling(
        model,
        prediction={"auto": None, "lcm": "epsilon"}.get(prediction, prediction),
        zero_terminal_snr={"auto": None, "on": True, "off": False}[zero_terminal_snr],
        guidance_rescale=cfg_rescale,
    )


@node(
    "model.step_cache",
    title="Step Cache",
    category="sampling",
    description="Faster sampling at a small cost in detail, like ComfyUI's EasyCache: on steps "
    "where the denoiser's input has barely changed, reuse its last output instead of running "
    "it. The input model is not changed; a patched copy comes out.",
    inputs=[
        Link("model", MODEL),
        Float("threshold", 0.2, min=0.0, max=5.0, step=0.01,
              description="How much estimated change in the output may pile up before the "
              "denoiser runs again; higher skips more steps (0: off)."),
        Float("start", 0.15, min=0.0, max=1.0, step=0.01,
              description="Fraction of the steps that always run first (the composition)."),
        Float("end", 0.95, min=0.0, max=1.0, step=0.01,
              description="From this fraction of the steps on, every step runs (the detail)."),
    ],
    outputs=[Output("model", MODEL, "The same networks, sampled with the step cache.")],
)
def step_cache(ctx: NodeContext, model: DiffusionModel, threshold: float, start: float,
               end: float) -> DiffusionModel:
    from node_api.errors import NodeInputError
    from pipelines.sampling.step_cache import with_step_cache

    if end < start:
        raise NodeInputError("end", f"end ({end:g}) is before start ({start:g})")
    return with_step_cache(model, threshold, start, end)


@node(
    "model.differential_diffusion",
    title="Differential Diffusion",
    category="sampling",
    description="Inpaint with a soft mask as a per-area strength, like ComfyUI's "
    "DifferentialDiffusion: where the noise mask is strong the image changes from the first "
    "step, where it is weak only in the last ones, so edits blend into their surroundings. "
    "Needs a latent with a noise mask (Set Latent Noise Mask, Inpaint Model Conditioning). "
    "The input model is not changed; a patched copy comes out.",
    inputs=[
        Link("model", MODEL),
        Float("strength", 1.0, min=0.0, max=1.0, step=0.01,
              description="1: the per-step thresholded mask alone; lower mixes the soft mask "
              "back in, as ComfyUI's strength does."),
    ],
    outputs=[Output("model", MODEL, "The same networks, masking step by step.")],
)
def differential_diffusion(ctx: NodeContext, model: DiffusionModel, strength: float
                           ) -> DiffusionModel:
    import dataclasses

    return dataclasses.replace(model, differential_diffusion=strength)
