"""unCLIP nodes (DALL-E 2, Kandinsky 2.2): a prior turns text into a CLIP image embedding, a
CLIP vision encoder turns an image into one, embeddings mix with weights, and an embedding
becomes the conditioning of an image-embedding decoder (sampled by the ordinary Sampler)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Int, Link, Output, String, node
from node_api.ports import CLIP_VISION, CONDITIONING, IMAGE, IMAGE_EMBEDDING, NOISE, PRIOR
from nodes._models import load_float32, model_fingerprint
from nodes._stages import run_stage

if TYPE_CHECKING:
    from torch import Tensor

    from pipelines.values import ClipVision, Conditioning, ImageEmbedding, Noise, Prior


@node(
    "loaders.prior",
    title="Load Prior",
    category="loaders",
    description="Load an unCLIP prior folder (Kandinsky 2.2 prior): the prior, its CLIP text "
    "encoder and its CLIP vision encoder.",
    inputs=[String("prior", "", kind="model:checkpoints",
                   description="Prior folder name in the model folders, or a path.")],
    outputs=[
        Output("prior", PRIOR, "Text -> CLIP image embedding."),
        Output("clip_vision", CLIP_VISION, "The CLIP vision encoder (for image embeddings)."),
    ],
    fingerprint=model_fingerprint("prior", "checkpoints"),
)
def load_prior(ctx: NodeContext, prior: str) -> tuple[Prior, ClipVision]:
    from pipelines.loading.cached import load_prior_cached

    return load_float32(ctx, load_prior_cached, prior, "checkpoints")


@node(
    "loaders.clip_vision",
    title="Load CLIP Vision",
    category="loaders",
    description="Load a CLIP vision encoder: a .safetensors file from the clip_vision folder, "
    "a folder with config.json, or a prior folder (its image_encoder).",
    inputs=[String("clip_vision", "", kind="model:clip_vision",
                   description="Name in the clip_vision folder, or a path.")],
    outputs=[Output("clip_vision", CLIP_VISION)],
    fingerprint=model_fingerprint("clip_vision", "clip_vision"),
)
def load_clip_vision(ctx: NodeContext, clip_vision: str) -> ClipVision:
    from pipelines.loading.cached import load_clip_vision_cached

    return load_float32(ctx, load_clip_vision_cached, clip_vision, "clip_vision")


@node(
    "unclip.prior",
    title="unCLIP Prior",
    category="unclip",
    description="Sample the CLIP image embedding of a prompt with the prior (DALL-E 2's first "
    "stage). The negative embedding is the black image's embedding, or the prior's embedding "
    "of the negative prompt when one is given.",
    inputs=[
        Link("prior", PRIOR),
        Link("noise", NOISE),
        String("text", "", multiline=True, description="The prompt."),
        String("negative", "", description="Negative prompt (optional)."),
        Int("steps", 25, min=2, max=1000, description="Prior denoising steps."),
        Float("cfg", 4.0, min=0.0, max=30.0, step=0.5,
              description="Guidance scale; 1 or less turns guidance off."),
    ],
    outputs=[Output("embedding", IMAGE_EMBEDDING), Output("negative", IMAGE_EMBEDDING)],
)
def unclip_prior(
    ctx: NodeContext, prior: Prior, noise: Noise, text: str, negative: str, steps: int, cfg: float
) -> tuple[ImageEmbedding, ImageEmbedding]:
    from pipelines.sampling.prior import run_prior

    return run_stage(ctx, prior, run_prior, prior, text, negative, noise, steps=steps, cfg=cfg)


@node(
    "unclip.clip_vision_encode",
    title="CLIP Vision Encode",
    category="unclip",
    description="The CLIP image embedding of an image (for image variations, mixing and "
    "unCLIP Conditioning).",
    inputs=[Link("clip_vision", CLIP_VISION), Link("image", IMAGE),
            Choice("crop", "center", choices=("center", "none"),
                   description="center: resize the shorter side and crop the middle square; "
                   "none: squash the whole image to a square.")],
    outputs=[Output("embedding", IMAGE_EMBEDDING)],
)
def clip_vision_encode(ctx: NodeContext, clip_vision: ClipVision, image: Tensor,
                       crop: str) -> ImageEmbedding:
    from nodes._models import on_device
    from pipelines.sampling.image_embeds import encode_image

    with on_device(ctx, clip_vision):
        return encode_image(clip_vision, image, device=ctx.device, crop=crop == "center")


@node(
    "unclip.mix",
    title="Mix Image Embeddings",
    category="unclip",
    description="Weighted sum of CLIP image embeddings (Kandinsky's interpolate): mix the "
    "embeddings of prompts and images.",
    inputs=[
        Link("embedding_1", IMAGE_EMBEDDING),
        Float("weight_1", 0.5, min=-10.0, max=10.0, step=0.05),
        Link("embedding_2", IMAGE_EMBEDDING, optional=True),
        Float("weight_2", 0.5, min=-10.0, max=10.0, step=0.05),
        Link("embedding_3", IMAGE_EMBEDDING, optional=True),
        Float("weight_3", 0.0, min=-10.0, max=10.0, step=0.05),
    ],
    outputs=[Output("embedding", IMAGE_EMBEDDING)],
)
def mix_embeddings(
    ctx: NodeContext, embedding_1: ImageEmbedding, weight_1: float,
    embedding_2: ImageEmbedding | None, weight_2: float, embedding_3: ImageEmbedding | None,
    weight_3: float
) -> ImageEmbedding:
    from node_api.errors import NodeInputError
    from pipelines.sampling.image_embeds import mix

    pairs = [(e, w) for e, w in ((embedding_1, weight_1), (embedding_2, weight_2),
                                 (embedding_3, weight_3)) if e is not None]
    try:
        return mix([e for e, _ in pairs], [w for _, w in pairs])
    except ValueError as exc:
        raise NodeInputError("embedding_2", str(exc)) from exc


@node(
    "unclip.conditioning",
    title="Image Embedding Conditioning",
    category="unclip",
    description="Condition an image-embedding decoder (Kandinsky 2.2) on a CLIP image "
    "embedding; feed the Sampler's positive (and the prior's negative to its negative).",
    inputs=[Link("embedding", IMAGE_EMBEDDING)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def embedding_conditioning(ctx: NodeContext, embedding: ImageEmbedding) -> Conditioning:
    from pipelines.sampling.image_embeds import as_conditioning

    return as_conditioning(embedding)
