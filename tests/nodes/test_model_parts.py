"""Load Diffusion Model + Load Text Encoders + Load VAE (a model from its part files, in the
ComfyUI folders) sample exactly what Load Checkpoint samples from the all-in-one file; Model
Sampling (SD3) changes the shift; the part loaders refuse what they cannot read in one line."""

from __future__ import annotations

import shutil

import pytest
import torch

from app.engine.executor import Executor
from tests.nodes.conftest import txt2img_graph


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """checkpoints/sd35.safetensors (all-in-one), unet/ (ComfyUI's older name for
    diffusion_models) with the transformer, text_encoders/ with clip_l, clip_g, t5xxl and the
    T5 tokenizer in the models folder, vae/sd35_vae.safetensors (the checkpoint's first_stage_model)."""
    from safetensors.torch import load_file, save_file

    from pipelines.testing.tiny_sd3 import build_tiny_sd3

    root = tmp_path_factory.mktemp("parts")
    tiny = build_tiny_sd3(root / "build", "sd35")
    for sub in ("checkpoints", "unet", "text_encoders", "vae"):
        (root / sub).mkdir()
    shutil.copy(tiny.file, root / "checkpoints" / "sd35.safetensors")
    shutil.copy(tiny.transformer, root / "unet" / "sd35_transformer.safetensors")
    for part in (tiny.clip_l, tiny.clip_g, tiny.t5xxl):
        shutil.copy(part, root / "text_encoders" / part.name)
    shutil.copytree(tiny.t5xxl.parent / "t5_tokenizer", root / "t5_tokenizer")  # for all
    vae = {k: v for k, v in load_file(str(tiny.file)).items()
           if k.startswith("first_stage_model.")}
    save_file(vae, str(root / "vae" / "sd35_vae.safetensors"))
    return root


@pytest.fixture()
def studio_models(models, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(models))
    monkeypatch.setenv("STUDIO_MODELS_CONFIG", str(models / "none.toml"))
    return models


def _parts_graph(registry, weight_dtype="default", shift=None):
    """txt2img whose model, text encoders and VAE come from three part loaders."""
    g = txt2img_graph(registry, "sd35.safetensors", steps=2, size=32)
    g.remove("1")
    g.add("loaders.diffusion_model", registry=registry, node_id="m",
          values={"unet_name": "sd35_transformer.safetensors", "weight_dtype": weight_dtype})
    g.add("loaders.text_encoders", registry=registry, node_id="c",
          values={"clip_name1": "t5xxl.safetensors", "clip_name2": "clip_g.safetensors",
                  "clip_name3": "clip_l.safetensors", "type": "sd3"})
    g.add("loaders.vae", registry=registry, node_id="v",
          values={"vae": "sd35_vae.safetensors", "scaling": "auto"})
    model_from = "m"
    if shift is not None:
        g.add("model.sampling_sd3", registry=registry, node_id="s", values={"shift": shift})
        g.connect("m", "model", "s", "model")
        model_from = "s"
    g.connect(model_from, "model", "6", "model")
    g.connect("c", "clip", "2", "clip")
    g.connect("c", "clip", "3", "clip")
    g.connect("v", "vae", "7", "vae")
    return g


def _run(registry, graph) -> tuple[torch.Tensor, torch.Tensor]:
    graph.nodes["2"].values["text"] = "a red cat"
    result = Executor(registry).run(graph, targets=["6", "7"])
    assert result.status == "ok", result.error
    return result.outputs["6"][0].samples, result.outputs["7"][0]


def test_part_loaders_equal_the_all_in_one_checkpoint(registry, studio_models):
    ref_latent, ref_image = _run(registry, txt2img_graph(registry, "sd35.safetensors", steps=2,
                                                         size=32))
    latent, image = _run(registry, _parts_graph(registry))
    assert latent.shape == (1, 16, 4, 4)
    assert torch.equal(latent, ref_latent) and torch.equal(image, ref_image)
    shifted, _ = _run(registry, _parts_graph(registry, shift=6.0))
    assert (shifted - latent).abs().max() > 1e-4  # another shift, another path
    same, _ = _run(registry, _parts_graph(registry, shift=3.0))  # the model's own shift
    assert torch.equal(same, latent)


def test_fp8_weight_dtype_stores_fp8_and_samples_near_bf16(registry, studio_models):
    from pipelines.loading.model_parts import load_diffusion_model_cached

    path = studio_models / "unet" / "sd35_transformer.safetensors"
    fp8 = load_diffusion_model_cached(path, "fp8_e4m3fn")
    bf16 = load_diffusion_model_cached(path, "bfloat16")
    weight = fp8.denoiser.transformer_blocks[0].attn.to_q.weight
    assert weight.dtype == torch.float8_e4m3fn
    assert bf16.denoiser.transformer_blocks[0].attn.to_q.weight.dtype == torch.bfloat16
    x = torch.randn(1, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    context, pooled = torch.randn(1, 8, 96), torch.randn(1, 80)
    with torch.no_grad():
        outs = [m.denoiser(hidden_states=x.to(torch.bfloat16), timestep=torch.tensor([500.0]),
                           encoder_hidden_states=context.to(torch.bfloat16),
                           pooled_projections=pooled.to(torch.bfloat16), return_dict=False)[0]
                for m in (fp8, bf16)]
    spread = outs[1].float().abs().max()
    assert (outs[0].float() - outs[1].float()).abs().max() <= 0.1 * spread


def test_part_loaders_refuse_what_they_cannot_read(registry, studio_models):
    g = _parts_graph(registry)
    g.nodes["m"].values["unet_name"] = "../text_encoders/clip_l.safetensors"
    result = Executor(registry).run(g, targets=["6"])
    assert result.status == "failed" and "Not a diffusion model file" in str(result.error)
    assert "clip_l.safetensors" in str(result.error) and "Traceback" not in str(result.error)
    g = _parts_graph(registry)
    g.nodes["c"].values.update(clip_name2="", clip_name3="")
    result = Executor(registry).run(g, targets=["6"])
    assert result.status == "failed" and "both CLIP text encoders" in str(result.error)
    g = _parts_graph(registry)
    g.nodes["c"].values.update(clip_name1="", clip_name2="", clip_name3="")
    result = Executor(registry).run(g, targets=["2"])
    assert result.status == "failed" and "clip_name1" in str(result.error)


def test_load_text_encoder_types_come_from_the_families(registry):
    spec = registry.get("loaders.text_encoders")
    field = next(i for i in spec.inputs if i.name == "type")
    assert {"sd1", "sdxl", "sd3", "flux", "flux_schnell"} <= set(field.choices)
    assert field.default == "sd3"  # the default before SD 1.x / SDXL files were read


def test_the_shipped_sd35_workflow_runs_on_tiny_models(registry, studio_models, tmp_path):
    from pathlib import Path

    from app.engine.workflow import to_document
    from app.interop.open import open_workflow
    from node_api.context import RunOptions

    path = (Path(__file__).resolve().parents[2] / "resources" / "workflows"
            / "sd35_txt2img.json")
    graph = open_workflow(path, registry)
    graph.find("Load Checkpoint").values["checkpoint"] = "sd35.safetensors"
    graph.find("Load Text Encoders").values["clip_name3"] = "t5xxl.safetensors"
    graph.find("Empty Latent").values.update(width=32, height=32)
    graph.find("Sampler").values.update(steps=2)
    options = RunOptions(output_dir=tmp_path, workflow=to_document(graph))
    result = Executor(registry).run(graph, options=options)
    assert result.status == "ok", result.error
    assert len(result.files) == 1
