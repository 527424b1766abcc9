"""What a model family is: the one description the loader, the prompt encoder, the denoising
loop, previews, precision and placement ask, instead of testing "is this SDXL" themselves.

A family is a ``ModelFamily`` subclass whose class attributes are data (components, latent
format, prompt encoding, single-file layout, defaults) and whose few methods say what data
cannot: how to recognise its weights and how to call its denoiser. ComfyUI's
``comfy/supported_models.py`` is the model: one small class per family, registered in a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from pipelines.values import Conditioning, DiffusionModel, TextEncoder, Vae

# Precision roles: every network of a family is loaded in the dtype of its role.
ROLES: tuple[str, ...] = ("denoiser", "text_encoder", "vae")
SCHEDULE_KINDS: tuple[str, ...] = ("discrete", "flow")


@dataclass(frozen=True)
class LatentFormat:
    """The space a family's denoiser works in.

    ``scaling_factor``/``shift_factor``: VAE latents -> denoiser latents (``(z - shift) * scale``).
    ``spatial_factor``: image pixels per latent pixel. ``rgb_factors`` (channels x 3) and
    ``rgb_bias``: a linear latent -> RGB map for cheap step previews (None: no table).
    ``pixels``: the denoiser works on the image itself (values -1..1, no VAE): DeepFloyd IF."""

    channels: int = 4
    scaling_factor: float = 0.18215
    shift_factor: float | None = None
    spatial_factor: int = 8
    rgb_factors: tuple[tuple[float, float, float], ...] | None = None
    rgb_bias: tuple[float, float, float] | None = None
    pixels: bool = False


@dataclass(frozen=True)
class Component:
    """One folder of a diffusers-format model.

    Args:
        name: The folder (and ``model_index.json`` entry), e.g. "unet", "text_encoder_2".
        classes: The ``library.Class`` names that may be instantiated for it; nothing else is.
        role: Precision role (``ROLES``), "tokenizer" or "scheduler".
        required: A model of the family must have it.
    """

    name: str
    classes: tuple[str, ...]
    role: str
    required: bool = True


@dataclass(frozen=True)
class SingleFileLayout:
    """Where a family's networks sit in an original-layout (A1111/ComfyUI) single file.

    Args:
        template: Folder under ``resources/configs`` with the family's real configs.
        clip_prefix: Key prefix of a Hugging Face-layout CLIP text encoder (or None).
        open_clip_prefix: Key prefix of an OpenCLIP text encoder (or None).
        open_clip_slot: Which component the OpenCLIP encoder becomes.
        open_clip_extra_layer: The file holds one layer more than the diffusers encoder (SD2).
        text_signatures: Key prefixes whose presence identifies the family.
    """

    template: str
    clip_prefix: str | None = None
    open_clip_prefix: str | None = None
    open_clip_slot: str = "text_encoder"
    open_clip_extra_layer: bool = False
    text_signatures: tuple[str, ...] = ()


def named_function(module: str, name: str) -> Any:
    """A function named by module and name, imported only when called: families sit below
    the rooms that ask them (import contract), so a family's file readers in
    ``pipelines.loading`` are named as data, as ``PROMPT_ENCODERS`` names prompt encoders."""
    import importlib

    return getattr(importlib.import_module(module), name)


def unet_components(*text_slots: str) -> tuple[Component, ...]:
    """The components of a UNet + CLIP + AutoencoderKL model with the given text slots
    ("" for the first pair: tokenizer/text_encoder, "_2" for the second)."""
    parts = [Component("unet", ("diffusers.UNet2DConditionModel",), "denoiser"),
             Component("vae", ("diffusers.AutoencoderKL",), "vae"),
             Component("scheduler", ("diffusers.*",), "scheduler")]
    for slot in text_slots:
        parts.append(Component(f"text_encoder{slot}", ("transformers.CLIPTextModel",
                               "transformers.CLIPTextModelWithProjection"), "text_encoder"))
        parts.append(Component(f"tokenizer{slot}", ("transformers.CLIPTokenizer",
                               "transformers.CLIPTokenizerFast"), "tokenizer"))
    return tuple(parts)


class ModelFamily:
    """A model family as data. Subclass it, set the attributes, register an instance with
    ``pipelines.families.register_family``; override a method only where data cannot say it."""

    id: str = ""
    label: str = ""
    denoiser: str = "unet"  # the component that denoises
    vae: str = "vae"  # the component that decodes latents ("": not a checkpoint's family)
    vae_scaling_from_config: bool = True  # False: ``latent.scaling_factor`` (config unused)
    vae_decode_options: tuple[tuple[str, Any], ...] = ()  # extra ``vae.decode`` keywords
    components: tuple[Component, ...] = unet_components("")
    # (tokenizer, text encoder) pairs, in the order their states are concatenated
    text_encoders: tuple[tuple[str, str], ...] = (("tokenizer", "text_encoder"),)
    prompt_layer: str = "last"  # "last" (+ clip_skip via final LayerNorm) | "penultimate"
    pooled: bool = False  # the conditioning carries the last encoder's pooled output
    text_encoding: str = "clip"  # "clip" (pipelines.text.conditioning) or "t5" (pipelines.text.t5)
    latent: LatentFormat = LatentFormat()
    schedule: str = "discrete"  # SCHEDULE_KINDS
    native_size: int = 512
    default_cfg: float = 7.5
    default_steps: int = 20
    vae_fp16_upcast: bool = False  # the VAE overflows in float16: keep it float32 under "auto"
    single_file: SingleFileLayout | None = None
    text_files_type: str = ""  # Load Text Encoders' type for this family's files ("": its id)
    detection_note: str = ""  # what a header-only detection cannot tell (shown by detect)
    accepts_control: bool = False  # the denoiser takes ControlNet/T2I-Adapter residuals
    control_kinds: tuple[str, ...] = ("controlnet", "controlnet_union", "t2i_adapter")  # kinds
    variant_of: str = ""  # of another family, told apart by input channels (InstructPix2Pix)
    input_channels: int | None = None
    sr_condition: Any = None  # a super-resolution stage's ``deepfloyd_if.SRCondition`` (None: IF's)

    def __repr__(self) -> str:
        return f"<ModelFamily {self.id}>"

    # --- detection -------------------------------------------------------------------------
    def matches_config(self, denoiser_config: dict[str, Any]) -> bool:
        """Whether a diffusers folder's denoiser config is this family's (no ``family`` key)."""
        return False

    def matches_checkpoint(self, context_dim: int, label_width: int | None) -> bool:
        """Whether an original-layout UNet is this family's, from its cross-attention width
        and its class-label embedding input width (None: no label embedding)."""
        return False

    def matches_unet_file(self, context_dim: int) -> bool:
        """Whether a diffusers-layout UNet file with this cross-attention width is ours."""
        return False

    def template_for(self, path: Path, state: dict[str, Any], metadata: dict[str, str]) -> str:
        """The single-file config template (a family may pick among variants, e.g. SD2's v)."""
        assert self.single_file is not None
        return self.single_file.template

    def configure_single_file_unet(self, config: dict[str, Any], pooled_width: int) -> None:
        """Adjust a single-file UNet config once the pooled text width is known (SDXL)."""

    # --- components ------------------------------------------------------------------------
    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def roles(self) -> dict[str, str]:
        """Component folder -> precision role, for the networks only."""
        return {c.name: c.role for c in self.components if c.role in ROLES}

    def vae_upcast(self, force_upcast: bool) -> bool:
        """Keep the VAE float32 under "auto" half precision (``force_upcast``: its config's)."""
        return self.vae_fp16_upcast and force_upcast

    def scheduler_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The scheduler config the model samples with, from the folder's (default: as is)."""
        return config

    def read_extras(self, folder: Path) -> dict[str, Any]:
        """Non-network data of a folder the denoiser inputs need (Stable unCLIP's statistics)."""
        return {}

    def read_file_extras(self, state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
        """``read_extras`` for an original-layout single file (its tensors)."""
        return {}

    def make_scheduler(self, sampler: str, schedule: str, config: dict[str, Any]) -> Any:
        """A fresh scheduler for one run (Karlo's stages step with their own unCLIP one)."""
        return named_function("pipelines.sampling.samplers", "make_scheduler")(
            sampler, schedule, config)

    def timestep_options(self, model: DiffusionModel, scheduler: Any,
                         latent_shape: tuple[int, ...], steps: int) -> dict[str, Any]:
        """Extra ``scheduler.set_timesteps`` keywords for one run, e.g. Flux's ``sigmas`` and
        resolution-dependent ``mu`` (``latent_shape``: the unpacked latent [B, C, h, w]).
        Only keywords the scheduler accepts; default: none."""
        return {}

    def file_input_channels(self, header: dict[str, Any]) -> int | None:
        """The denoiser's input channels from a file header (refines to a ``variant_of``)."""
        return None

    def file_kind(self, keys: Any) -> str:
        """What a safetensors file of this family is from its tensor names alone
        ("checkpoint", "unet", ...; "" when not this family's). For families whose files
        the UNet-shaped detection in ``pipelines.loading.detect`` cannot read; default: ""."""
        return ""

    def load_checkpoint_state(self, state: dict[str, torch.Tensor], path: Path, device: Any,
                              dtype: Any, in_ram: Any = None
                              ) -> tuple[DiffusionModel, TextEncoder, Vae] | None:
        """An all-in-one file's (model, clip, vae) (``dtype``: ``load_checkpoint``'s; networks
        whose class ``in_ram`` keeps in RAM stay on the CPU); None: the SD single-file path."""
        return None

    def load_denoiser_file(self, path: Path, dtype: str) -> DiffusionModel:
        """The denoiser alone from one file (ComfyUI's UNETLoader), computed in ``dtype``
        ("default", "float16", "bfloat16", "float32"). Families that support it override."""
        from pipelines.errors import StudioError

        raise StudioError(f"{path.name}: loading a {self.label or self.id} denoiser from a "
                          "file of its own is not supported")

    def load_text_encoder_files(self, paths: list[Path]) -> TextEncoder:
        """The family's text encoders from separate files (ComfyUI's CLIPLoader, DualCLIPLoader,
        TripleCLIPLoader), in the family's slot order. Families that support it override."""
        from pipelines.errors import StudioError

        names = ", ".join(p.name for p in paths)
        raise StudioError(f"{names}: loading {self.label or self.id} text encoders from "
                          "separate files is not supported")

    def lora_state(self, state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        """A LoRA file's tensors in names ``pipelines.loading.lora`` reads (kohya or
        diffusers/PEFT); a family whose files use other layouts converts them. Default: as is."""
        return state

    # --- prompts ---------------------------------------------------------------------------
    def prompt_style(self, clip: TextEncoder) -> tuple[str, bool]:
        """(hidden layer, pooled) for a loaded text encoder of this family."""
        return self.prompt_layer, self.pooled

    # --- the denoiser ----------------------------------------------------------------------
    def denoiser_inputs(
        self, model: DiffusionModel, context: torch.Tensor, positive: Conditioning,
        negative: Conditioning | None, x: torch.Tensor, cfg_batch: bool, cfg: float,
    ) -> dict[str, Any]:
        """Keyword inputs of every denoiser call of one run (built once, before the loop).

        Args:
            model: The model; ``model.denoiser`` is on the run device.
            context: The cross-attention states [B or 2B, seq, dim], already on the device.
            positive, negative: The conditionings (their ``extras`` hold pooled outputs etc.).
            x: The starting latent [B, C, h, w] on the device.
            cfg_batch: The batch is [uncond, cond] (classifier-free guidance).
            cfg: The guidance scale (LCM-distilled UNets embed it).
        """
        from pipelines.families.unet import unet_inputs

        return unet_inputs(model, context, cfg, x.shape[0], x.device)

    def seeded_inputs(self, model: DiffusionModel, positive: Conditioning,
                      negative: Conditioning | None, generator: Any, batch: int,
                      cfg_batch: bool, device: torch.device) -> dict[str, Any]:
        """Denoiser inputs drawn from the run's noise ``generator`` before the initial latent
        noise, as the family's pipeline draws them (Stable unCLIP: the augmentation noise of
        its image embeddings); added to ``denoiser_inputs``. Default: none."""
        return {}

    def denoiser_in_channels(self, model: DiffusionModel) -> int:
        """Channels per latent pixel the denoiser takes (its config's ``in_channels``; a
        family that packs patches into tokens divides by the patch area)."""
        config = getattr(model.denoiser, "config", None)
        return int(getattr(config, "in_channels", model.latent_channels))

    def inpaint_channels(self, model: DiffusionModel, mask: torch.Tensor,
                         masked: torch.Tensor) -> torch.Tensor | None:
        """Extra input channels [B, n, h, w] from the mask [B, 1, H, W] and masked latent
        [B, C, h, w]; None: the UNets' [mask, masked] (Flux Fill cuts the mask in cells)."""
        return None

    def denoiser_dtype(self, model: DiffusionModel) -> torch.dtype:
        """The dtype the denoiser computes in. Asked once per run, never per step: diffusers'
        ``ModelMixin.dtype`` walks every submodule on each call (709 for SD1.5, 1,930 for SDXL)."""
        compute = getattr(model.denoiser, "studio_compute_dtype", None)  # fp8-stored weights
        return compute if compute is not None else model.denoiser.dtype

    def check_control(self, model: DiffusionModel) -> None:
        """Raise a StudioError unless the denoiser takes ControlNet / T2I-Adapter residuals
        (``down_block_additional_residuals`` & co. of a ``UNet2DConditionModel``)."""
        if not self.accepts_control:
            from pipelines.errors import StudioError

            raise StudioError(f"ControlNets and T2I-Adapters do not work with "
                              f"{self.label or self.id} models (SD 1.x, SD 2.x, SDXL, SD3 and Flux only)")

    def call_denoiser(self, model: DiffusionModel, x: torch.Tensor, t: Any,
                      inputs: dict[str, Any]) -> torch.Tensor:
        """One denoiser evaluation: the model output for ``x`` (already in
        ``denoiser_dtype``) at timestep ``t``. Called every step: no dtype or device queries,
        nothing that reads a tensor on the host."""
        return model.denoiser(x, t, **inputs)[0]
