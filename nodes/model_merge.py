"""Model merging nodes (ComfyUI's ModelMergeSimple/Add/Subtract/Blocks/SDXL and CLIPMerge*):
two models of one family become one, weight by weight. The inputs are not changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node_api.context import NodeContext
from node_api.declaration import Choice, Float, Link, Output, String, node
from node_api.ports import CLIP, MODEL
from pipelines.catalog import MERGE_MODES

if TYPE_CHECKING:
    from pipelines.values import DiffusionModel, TextEncoder

_MODE = ("weighted: ratio x first + (1 - ratio) x second; add: first + second; subtract: "
         "ratio x (first - second), a difference to add to another model (e.g. a fine-tune's "
         "change from its base).")
_RATIO = ("weighted: the share of the first model (1 = the first alone); subtract: the "
          "multiplier; add: unused.")
# how two networks combine: the same inputs on Merge Models and Merge Text Encoders
_HOW = (Choice("mode", "weighted", choices=MERGE_MODES, description=_MODE),
        Float("ratio", 1.0, min=-10.0, max=10.0, step=0.01, description=_RATIO))


@node(
    "model.merge",
    title="Merge Models",
    category="model merging",
    description="Merge two models of the same family weight by weight, like ComfyUI's "
    "ModelMergeSimple / ModelMergeAdd / ModelMergeSubtract. A LoRA applied to either model "
    "is merged with it.",
    inputs=[
        Link("model1", MODEL, description="The first model; its settings are kept."),
        Link("model2", MODEL, description="The second model, of the same family."),
        *_HOW,
    ],
    outputs=[Output("model", MODEL, "The merged model.")],
)
def merge_models(ctx: NodeContext, model1: DiffusionModel, model2: DiffusionModel, mode: str,
                 ratio: float) -> DiffusionModel:
    from pipelines import model_merge

    a, b = model_merge.scales(mode, ratio)
    return model_merge.merge_models(model1, model2, lambda _name: (a, b))


@node(
    "model.merge_blocks",
    title="Merge Models by Block",
    category="model merging",
    description="A weighted merge with its own ratio per UNet block, like ComfyUI's "
    "ModelMergeBlocks and ModelMergeSDXL (SD1.x, SD2.x and SDXL models). Ratios are the share "
    "of the first model.",
    inputs=[
        Link("model1", MODEL),
        Link("model2", MODEL),
        Float("input", 1.0, min=0.0, max=1.0, step=0.01,
              description="The encoder half (input_blocks), and every layer no ratio names."),
        Float("middle", 1.0, min=0.0, max=1.0, step=0.01, description="The middle block."),
        Float("out", 1.0, min=0.0, max=1.0, step=0.01,
              description="The decoder half (output_blocks) and the output layer."),
        String("blocks", "", multiline=True,
               description="Finer ratios as name=ratio by original layer name, e.g. "
               "input_blocks.4.=0.3, time_embed.=1, label_emb.=0.5; the longest matching "
               "name wins over input/middle/out."),
    ],
    outputs=[Output("model", MODEL, "The merged model.")],
)
def merge_blocks(ctx: NodeContext, model1: DiffusionModel, model2: DiffusionModel,
                 input: float, middle: float, out: float, blocks: str) -> DiffusionModel:
    from pipelines import model_merge

    ratios = {"input": input, "middle": middle, "out": out,
              **model_merge.parse_block_ratios(blocks)}
    names = model_merge.unet_block_names(model1.denoiser)
    return model_merge.merge_models(model1, model2,
                                    model_merge.block_scales(names, ratios, input))


@node(
    "model.merge_text_encoders",
    title="Merge Text Encoders",
    category="model merging",
    description="Merge two text encoders (CLIP) of the same family weight by weight, like "
    "ComfyUI's CLIPMergeSimple / CLIPMergeAdd / CLIPMergeSubtract.",
    inputs=[
        Link("clip1", CLIP, description="The first text encoder; its tokenizers are kept."),
        Link("clip2", CLIP, description="The second text encoder, of the same family."),
        *_HOW,
    ],
    outputs=[Output("clip", CLIP, "The merged text encoder.")],
)
def merge_text_encoders(ctx: NodeContext, clip1: TextEncoder, clip2: TextEncoder, mode: str,
                        ratio: float) -> TextEncoder:
    from pipelines import model_merge

    a, b = model_merge.scales(mode, ratio)
    return model_merge.merge_text_encoders(clip1, clip2, lambda _name: (a, b))
