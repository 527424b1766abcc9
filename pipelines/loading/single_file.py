"""Single-file checkpoints (SD 1.x, SD 2.x, SDXL base/refiner, and their inpainting
variants, whose UNet input width comes from the weights), fully offline.

Configs come from the shipped templates in ``resources/configs/<family>`` (the real repos'
configs), with every size the file's tensors reveal taken from the file instead, so fine-tunes
and tiny test models load too. Weights are renamed with diffusers' own single-file converters
and loaded strictly. ``.ckpt/.pt`` files are read only through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from pipelines.errors import ModelLoadError
from pipelines.families import ModelFamily, get_family
from pipelines.loading.convert import UNET_PREFIX
from pipelines.loading.detect import detect_header
from pipelines.loading.readers import CONFIGS, SUPPORTED, clip_tokenizer, read_json, read_state_dict
from pipelines.sampling.previews import default_factors
from pipelines.sampling.samplers import sampling_config
from pipelines.values import DiffusionModel, TextEncoder, Vae

Place = tuple[torch.device, torch.dtype] | None  # a network's device and dtype, when direct


def template_for(family: str, path: Path, state: dict[str, torch.Tensor],
                 metadata: dict[str, str]) -> str:
    """The config template folder of a family's single file (``ModelFamily.template_for``)."""
    return get_family(family).template_for(path, state, metadata)


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := regex.match(k))}
    return max(found) + 1 if found else 0


def unet_config(state: dict[str, torch.Tensor], template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with every size the original-layout UNet weights reveal (prefix removed)."""
    config = dict(template)
    downsamplers = sorted(int(k.split(".")[1]) for k in state if re.fullmatch(r"input_blocks\.\d+\.0\.op\.weight", k))
    levels = len(downsamplers) + 1
    per_level = downsamplers[0] if downsamplers else _count(state, r"input_blocks\.(\d+)\.")
    layers = per_level - 1
    channels, depths, cross = [], [], []
    for i in range(levels):
        first = f"input_blocks.{per_level * i + 1}."
        channels.append(int(state[first + "0.out_layers.3.weight"].shape[0]))
        cross.append(f"{first}1.proj_in.weight" in state)
        depths.append(_count(state, re.escape(first) + r"1\.transformer_blocks\.(\d+)\."))
    mid_depth = _count(state, r"middle_block\.1\.transformer_blocks\.(\d+)\.")
    depths = [d or (mid_depth if i == levels - 1 else 1) for i, d in enumerate(depths)]
    config.update(
        in_channels=int(state["input_blocks.0.0.weight"].shape[1]),
        out_channels=int(state["out.2.weight"].shape[0]),
        block_out_channels=channels,
        layers_per_block=layers,
        down_block_types=["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in cross],
        up_block_types=["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(cross)],
        use_linear_projection=any(
            v.ndim == 2 for k, v in state.items() if k.endswith(".proj_in.weight")
        ),
    )
    key = next(k for k in state if k.endswith("attn2.to_k.weight"))
    config["cross_attention_dim"] = int(state[key].shape[1])
    if any(d != 1 for d in depths) or "transformer_layers_per_block" in template:
        config["transformer_layers_per_block"] = depths
    if list(channels) != list(template["block_out_channels"]) and isinstance(
        template["attention_head_dim"], list
    ):  # SD2/SDXL use 64-wide heads
        config["attention_head_dim"] = [max(1, c // 64) for c in channels]
    if "label_emb.0.0.weight" in state:
        config["projection_class_embeddings_input_dim"] = int(state["label_emb.0.0.weight"].shape[1])
    return config


def vae_config(state: dict[str, torch.Tensor], template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with the sizes the original-layout VAE weights reveal (prefix removed)."""
    levels = _count(state, r"encoder\.down\.(\d+)\.")
    config = dict(template)
    config.update(
        in_channels=int(state["encoder.conv_in.weight"].shape[1]),
        out_channels=int(state["decoder.conv_out.weight"].shape[0]),
        latent_channels=int(state["decoder.conv_in.weight"].shape[1]),
        block_out_channels=[int(state[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) for i in range(levels)],
        layers_per_block=_count(state, r"encoder\.down\.0\.block\.(\d+)\."),
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
    )
    return config


def text_config(
    state: dict[str, torch.Tensor], template: dict[str, Any], open_clip: bool, drop_last: bool
) -> dict[str, Any]:
    """CLIP text config from HF-layout (``text_model.*``) or OpenCLIP weights (prefix removed)."""
    if open_clip:
        embed, positions = state["token_embedding.weight"], state["positional_embedding"]
        layers = _count(state, r"transformer\.resblocks\.(\d+)\.") - int(drop_last)
        inner = state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    else:
        embed = state["text_model.embeddings.token_embedding.weight"]
        positions = state["text_model.embeddings.position_embedding.weight"]
        layers = _count(state, r"text_model\.encoder\.layers\.(\d+)\.")
        inner = state["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
    config = dict(template)
    hidden = int(embed.shape[1])
    if hidden != template["hidden_size"]:
        config["num_attention_heads"] = max(1, hidden // 64)  # CLIP heads are 64 wide
    config.update(vocab_size=int(embed.shape[0]), hidden_size=hidden, num_hidden_layers=layers,
                  max_position_embeddings=int(positions.shape[0]), intermediate_size=int(inner))
    if "text_projection" in state and not drop_last:
        config["projection_dim"] = int(state["text_projection"].shape[1])
    return config


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _fill(module: Any, weights: dict[str, torch.Tensor], what: str, path: Path,
          place: Place = None) -> Any:
    """Load ``weights`` into an empty (meta) module strictly; extra tensors are ignored. GGUF
    blocks stay quantized in their Linear layers (``gguf_model.prepare``). ``place``: plain
    weights go there one at a time (float32 values cast), no float32 network on the CPU first."""
    from pipelines.loading.gguf_model import is_quantized, prepare

    expected = module.state_dict()
    missing = [k for k in expected if k not in weights]
    if missing:
        raise ModelLoadError(path, f"The {what} weights are incomplete ({len(missing)} missing, "
                             f"e.g. '{missing[0]}'). {SUPPORTED}", hint="")
    try:
        # fresh float32 copies: tensors viewing the file's buffer can be unaligned, which
        # changes CPU kernels' rounding (the folder loader copies into fresh memory too)
        picked = {k: weights[k] for k in expected}
        fresh = (prepare(module, picked, torch.float32) if place is None or any(
            map(is_quantized, picked.values())) else
            {k: v.to(torch.float32).to(*place, copy=True) for k, v in picked.items()})
        module.load_state_dict(fresh, strict=True, assign=True)
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise ModelLoadError(path, f"The {what} weights do not fit ({detail}).", hint="") from None
    return module.eval().requires_grad_(False)


def _empty(factory: Any) -> Any:
    from accelerate import init_empty_weights

    with init_empty_weights():
        return factory()


def build_vae(state: dict[str, torch.Tensor], template: dict[str, Any], path: Path,
              place: Place = None) -> Any:
    """An AutoencoderKL from original-layout VAE weights (with or without a prefix)."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    try:
        config = vae_config(_strip(state, "first_stage_model.") or state, template)
        vae = _empty(lambda: AutoencoderKL.from_config(config))
        weights = convert_ldm_vae_checkpoint(state, config)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:  # a tensor is missing
        missing = f" (no {exc.args[0]!r} tensor)" if isinstance(exc, KeyError) and exc.args else ""
        raise ModelLoadError(path, f"Not a VAE of a known layout{missing}.",
                             hint="Pick a Stable Diffusion VAE (AutoencoderKL) file.") from None
    return _fill(vae, weights, "VAE", path, place)


def _build_text(state: dict[str, torch.Tensor], prefix: str, open_clip: bool, folder: Path,
                drop_last: bool, path: Path, place: Place = None) -> Any:
    import transformers
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    template = read_json(folder / "config.json")
    config = text_config(_strip(state, prefix), template, open_clip, drop_last)
    cls = getattr(transformers, config["architectures"][0])
    keep = {k: v for k, v in config.items() if k not in {"torch_dtype", "dtype", "_name_or_path"}}
    model = _empty(lambda: cls(transformers.CLIPTextConfig.from_dict(keep)))
    if open_clip:
        weights = convert_open_clip_checkpoint(model, state, prefix=prefix)
    else:
        weights = _strip(state, prefix)
    if not hasattr(model, "text_model"):  # transformers 5 flattened CLIPTextModel
        weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
    return _fill(model, weights, "text encoder", path, place)


def load_single_file(
    path: str | Path, device: str | torch.device = "cpu",
    dtype: torch.dtype | dict[str, torch.dtype] | None = None, in_ram: Any = None,
) -> tuple[DiffusionModel, TextEncoder, Vae]:
    """Load an SD 1.x / 2.x / SDXL single-file checkpoint (never touches the network).
    ``dtype``: one for all networks, or a dict per component (``pipelines.memory.precision``).

    Raises:
        ModelLoadError: unreadable, unsafe, incomplete, or not a supported checkpoint.
    """
    state, metadata = read_state_dict(path)
    return from_state_dict(state, path, metadata, device, dtype, in_ram)


def _networks(state: dict[str, torch.Tensor], family: ModelFamily, folder: Path, path: Path,
              places: dict[str, Place]) -> tuple:
    """(unet, vae, text_encoder, tokenizer, text_encoder_2, tokenizer_2) of a checkpoint, where
    the family's single-file layout says they are; ``places``: per role, or None each."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = unet_config(_strip(state, UNET_PREFIX), read_json(folder / "unet" / "config.json"))
    layout = family.single_file
    assert layout is not None
    clip_prefix, open_prefix = layout.clip_prefix, layout.open_clip_prefix
    if open_prefix:
        family.configure_single_file_unet(
            config, int(state[open_prefix + "text_projection"].shape[1]))
    unet = _empty(lambda: UNet2DConditionModel.from_config(config))
    unet = _fill(unet, convert_ldm_unet_checkpoint(state, config), "UNet", path, places["denoiser"])
    vae = build_vae(state, read_json(folder / "vae" / "config.json"), path, places["vae"])
    te = te2 = tok = tok2 = None
    if clip_prefix:
        te = _build_text(state, clip_prefix, False, folder / "text_encoder", False, path,
                         places["text_encoder"])
        tok = clip_tokenizer(read_json(folder / "tokenizer" / "tokenizer_config.json")["pad_token"])
    if open_prefix:
        sub = layout.open_clip_slot
        second = sub == "text_encoder_2"
        encoder = _build_text(state, open_prefix, True, folder / sub,
                              layout.open_clip_extra_layer, path, places["text_encoder"])
        pad = read_json(folder / sub.replace("text_encoder", "tokenizer") / "tokenizer_config.json")
        if second:
            te2, tok2 = encoder, clip_tokenizer(pad["pad_token"])
        else:
            te, tok = encoder, clip_tokenizer(pad["pad_token"])
    return unet, vae, te, tok, te2, tok2


def from_state_dict(
    state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None,
    device: str | torch.device = "cpu", dtype: torch.dtype | dict[str, torch.dtype] | None = None,
    in_ram: Any = None) -> tuple[DiffusionModel, TextEncoder, Vae]:
    """Build the model of an original-layout state dict (``path`` names it in errors)."""
    path, metadata = Path(path), metadata or {}
    found = detect_header({k: {"shape": list(v.shape)} for k, v in state.items()})
    if found.kind == "checkpoint" and found.family:  # a family with its own file layout
        built = get_family(found.family).load_checkpoint_state(state, path, device, dtype, in_ram)
        if built is not None:
            return built
    if found.kind != "checkpoint" or not found.family:
        what = found.describe() if found.kind != "unknown" else "no model this program knows"
        raise ModelLoadError(path, f"Not a supported model: it looks like {what}. {SUPPORTED}")
    family = get_family(found.family)
    folder = CONFIGS / family.template_for(path, state, metadata)
    from pipelines.loading.components import direct_device
    from pipelines.memory.precision import component_dtypes
    dtypes = component_dtypes(dtype)  # one dtype, or one per role
    where = direct_device(device)  # a GPU: each weight straight there
    places = {role: (where, dtypes[role]) if where else None for role in dtypes}
    try:
        unet, vae, te, tok, te2, tok2 = _networks(state, family, folder, path, places)
    except (KeyError, IndexError, StopIteration, ValueError) as exc:
        raise ModelLoadError(path, f"Its {found.describe()} weights have an unexpected layout "
                             f"({type(exc).__name__}: {exc}). {SUPPORTED}", hint="") from None
    for part, net in (("denoiser", unet), ("vae", vae), ("text_encoder", te),
                      ("text_encoder", te2)):
        if net is not None:
            net.to(device=device, dtype=dtypes[part])
    import diffusers

    raw = read_json(folder / "scheduler" / "scheduler_config.json")
    # the config as save_pretrained writes it (defaults filled in), like a saved folder's
    scheduler = dict(getattr(diffusers, raw["_class_name"]).from_config(raw).config)
    scheduler.pop("_use_default_values", None)
    # NoobAI-style files mark v-prediction / zero terminal SNR with marker keys (as ComfyUI reads)
    scheduler = sampling_config(scheduler, prediction="v_prediction" if "v_pred" in state else None,
                                zero_terminal_snr=True if "ztsnr" in state else None)
    channels = int(vae.config.latent_channels)
    factors, bias = default_factors(family.id, channels)
    model = DiffusionModel(
        denoiser=unet, scheduler_config=scheduler, family=family.id, latent_channels=channels,
        vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1),
        prediction_type=str(scheduler.get("prediction_type", "epsilon")),
        latent_rgb_factors=factors, latent_rgb_bias=bias, source=str(path),
        extras=family.read_file_extras(state, path),
    )
    clip = TextEncoder(tokenizer=tok, text_encoder=te, source=str(path), tokenizer_2=tok2,
                       text_encoder_2=te2, family=family.id)
    return model, clip, wrap_vae(vae, str(path))


def wrap_vae(vae: Any, source: str) -> Vae:
    """``Vae`` around an AutoencoderKL, with its config's latent scaling."""
    shift = getattr(vae.config, "shift_factor", None)
    return Vae(vae=vae, scaling_factor=float(getattr(vae.config, "scaling_factor", 0.18215)),
               shift_factor=None if shift is None else float(shift), source=source)
