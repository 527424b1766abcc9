"""SD3 LoRAs named after the original MMDiT layers (sd-scripts/kohya, ComfyUI-trained) and
other trainers' prefixes: applied, they patch exactly the weights their PEFT equivalent
patches, fused qkv split into three projections and the swapped adaLN halves swapped."""

from __future__ import annotations

import torch

from pipelines.loading.lora import apply_lora
from pipelines.values import DiffusionModel


def _model() -> DiffusionModel:
    from pipelines.loading.sd3_files import sd3_model
    from pipelines.testing.tiny_sd3 import build_transformer

    return sd3_model(build_transformer("sd35", seed=5), "tiny")


def _weights(model: DiffusionModel) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.denoiser.state_dict().items()}


def _patched(model: DiffusionModel, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    patched, _ = apply_lora(model, None, state, 0.75, source="test LoRA")
    return _weights(patched)


def test_a_kohya_original_layout_lora_equals_its_peft_equivalent() -> None:
    model = _model()
    blocks = len(model.denoiser.transformer_blocks)
    last = blocks - 1
    dim = model.denoiser.config.num_attention_heads * model.denoiser.config.attention_head_dim
    g = torch.Generator().manual_seed(3)

    def pair(out: int, inner: int, rank: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(rank, inner, generator=g) * 0.1,
                torch.randn(out, rank, generator=g) * 0.1)

    kohya, peft = {}, {}
    # fused qkv of the first x block -> to_q / to_k / to_v
    down, up = pair(3 * dim, dim)
    kohya |= {"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": down,
              "lora_unet_joint_blocks_0_x_block_attn_qkv.lora_up.weight": up,
              "lora_unet_joint_blocks_0_x_block_attn_qkv.alpha": torch.tensor(2.0)}
    for part, rows in zip(("to_q", "to_k", "to_v"), up.chunk(3), strict=True):
        peft |= {f"transformer.transformer_blocks.0.attn.{part}.lora_A.weight": down,
                 f"transformer.transformer_blocks.0.attn.{part}.lora_B.weight": rows * 0.5}
    # the context block's fused qkv, in ComfyUI's dotted spelling -> add_{q,k,v}_proj
    down, up = pair(3 * dim, dim)
    kohya |= {"diffusion_model.joint_blocks.0.context_block.attn.qkv.lora_A.weight": down,
              "diffusion_model.joint_blocks.0.context_block.attn.qkv.lora_B.weight": up}
    for part, rows in zip(("add_q_proj", "add_k_proj", "add_v_proj"), up.chunk(3), strict=True):
        peft |= {f"transformer.transformer_blocks.0.attn.{part}.lora_A.weight": down,
                 f"transformer.transformer_blocks.0.attn.{part}.lora_B.weight": rows}
    # a plain layer: the x block's mlp.fc2 -> ff.net.2
    down, up = pair(dim, 4 * dim)
    kohya |= {"lora_unet_joint_blocks_0_x_block_mlp_fc2.lora_down.weight": down,
              "lora_unet_joint_blocks_0_x_block_mlp_fc2.lora_up.weight": up}
    peft |= {"transformer.transformer_blocks.0.ff.net.2.lora_A.weight": down,
             "transformer.transformer_blocks.0.ff.net.2.lora_B.weight": up}
    # adaLN: a middle context block keeps its rows, the last (pre-only) one swaps them
    for index, chunks in ((0, 6), (last, 2)):
        down, up = pair(chunks * dim, dim)
        name = f"lora_unet_joint_blocks_{index}_context_block_adaLN_modulation_1"
        kohya |= {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up}
        rows = torch.cat(up.chunk(2)[::-1]) if chunks == 2 else up
        peft |= {f"transformer.transformer_blocks.{index}.norm1_context.linear.lora_A.weight":
                 down,
                 f"transformer.transformer_blocks.{index}.norm1_context.linear.lora_B.weight":
                 rows}
    down, up = pair(2 * dim, dim)
    kohya |= {"lora_unet_final_layer_adaLN_modulation_1.lora_down.weight": down,
              "lora_unet_final_layer_adaLN_modulation_1.lora_up.weight": up}
    peft |= {"transformer.norm_out.linear.lora_A.weight": down,
             "transformer.norm_out.linear.lora_B.weight": torch.cat(up.chunk(2)[::-1])}

    base = _weights(model)
    ours, theirs = _patched(model, kohya), _patched(model, peft)
    changed = [k for k in base if not torch.equal(base[k], theirs[k])]
    assert len(changed) == 3 + 3 + 1 + 2 + 1
    for key in base:
        assert torch.allclose(ours[key], theirs[key], atol=1e-7), key


def test_onetrainer_and_base_model_prefixes_are_renamed() -> None:
    model = _model()
    g = torch.Generator().manual_seed(4)
    layer = model.denoiser.transformer_blocks[0].attn.to_q
    down = torch.randn(2, layer.in_features, generator=g)
    up = torch.randn(layer.out_features, 2, generator=g)
    peft = {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": down,
            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": up}
    expected = _patched(model, peft)
    one_trainer = {"lora_transformer_transformer_blocks_0_attn_to_q.lora_down.weight": down,
                   "lora_transformer_transformer_blocks_0_attn_to_q.lora_up.weight": up}
    flash = {"base_model.model.transformer_blocks.0.attn.to_q.lora_A.weight": down,
             "base_model.model.transformer_blocks.0.attn.to_q.lora_B.weight": up}
    for state in (one_trainer, flash):
        ours = _patched(model, state)
        assert all(torch.equal(ours[k], expected[k]) for k in expected)
