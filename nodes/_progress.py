"""Progress and previews of a sampling node: the step callback the denoise loop calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from node_api.context import NodeContext

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import DiffusionModel, Vae


def step_callbacks(
    ctx: NodeContext, model: DiffusionModel, vae: Vae | None
) -> tuple[Callable[[int, int, Tensor | None], None], Callable[[int, int], bool]]:
    """(on_step, wants_x0) for ``pipelines.sampling.denoise``: progress every step, cheap
    previews throttled, full VAE previews every N steps (the run setting) when a VAE is given."""
    from pipelines.sampling.previews import PreviewRenderer, PreviewThrottle

    every = ctx.options.preview_vae_every
    throttle = PreviewThrottle()
    render = PreviewRenderer(model.latent_rgb_factors, model.latent_rgb_bias, model.family)

    def vae_preview_due(index: int) -> bool:
        return vae is not None and bool(every) and (index + 1) % every == 0

    def wants_x0(index: int, total: int) -> bool:
        return ctx.wants_previews and (vae_preview_due(index) or throttle.due(index, total))

    def on_step(index: int, total: int, x0: Tensor | None) -> None:
        preview = None
        if x0 is not None and ctx.wants_previews and vae_preview_due(index):
            from pipelines.sampling.previews import decode_preview

            preview = decode_preview(vae, x0)
        elif x0 is not None and ctx.wants_previews:
            preview = render(x0, final=index == total - 1)
        ctx.progress(index + 1, total, preview)

    return on_step, wants_x0
