"""ComfyUI object_info from our declarations (issue 15): for every class in the ComfyUI
fixture (data/comfy_object_info.json) the same inputs in the same order, the same link and
output types; widget defaults a client fills in are accepted by our importer; combo lists are
what we run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.engine.validation import validate
from app.interop.comfy import load_comfy
from app.interop.comfy_export import _CLASS as EXPORTED
from app.interop.comfy_export import to_comfy_api
from app.interop.comfy_names import CLASSES, NEAREST_SAMPLERS, NEAREST_SCHEDULERS
from app.interop.comfy_object_info import object_info
from tests.interop.comfy_validity import object_info as comfyui_object_info
from tests.interop.comfy_validity import problems

ROOT = Path(__file__).parents[2]
FILES = {"checkpoints": ["v1-5-pruned-emaonly.safetensors", "sdxl/base.safetensors"],
         "input": ["example.png"]}

# classes whose inputs or outputs differ from ComfyUI's, and why (none today: a class that
# starts to differ fails the first test until it is fixed or named here)
KNOWN_DIFFERENCES: dict[str, str] = {}
# combo values we offer that ComfyUI's class does not (ours run them)
EXTRA_CHOICES = {("UNETLoader", "weight_dtype"): {"float16", "bfloat16", "float32"},
                 # our Load Text Encoders type names (flux_schnell, sd1, sdxl are read from
                 # ComfyUI's flux / stable_diffusion / sdxl on import; listed under ours)
                 ("CLIPLoader", "type"): {"flux", "flux_schnell", "sd1", "sdxl"},
                 ("DualCLIPLoader", "type"): {"flux_schnell", "sd1"}}
# ComfyUI combo values we leave out, beyond the samplers/schedulers we import as the nearest:
# settings we take as another on import (with a note), and text-encoder types we lack
LEFT_OUT = {
    ("ImageQuantize", "dither"): {"bayer-2", "bayer-4", "bayer-8", "bayer-16"},  # read as FS
    ("ModelSamplingDiscrete", "sampling"): {"x0", "img_to_img"},
    ("LatentUpscale", "upscale_method"): {"area", "bislerp"},
    ("LatentUpscaleBy", "upscale_method"): {"area", "bislerp"},
    ("ImageScale", "upscale_method"): {"area"}, ("ImageScaleBy", "upscale_method"): {"area"},
    ("LatentUpscale", "crop"): {"center"}, ("ImageScale", "crop"): {"center"},
    ("UNETLoader", "weight_dtype"): {"fp8_e4m3fn_fast"},
    ("CLIPTextEncodeSD3", "empty_padding"): {"none"},
    ("CLIPLoader", "device"): {"cpu"}, ("DualCLIPLoader", "device"): {"cpu"},
}
# text-encoder types of model families we have no models of (the flux/SD3 ones we run)
_FAMILY_TYPES = {("CLIPLoader", "type"), ("DualCLIPLoader", "type")}
_SAMPLER_LISTS = {"sampler_name", "scheduler"}


def _lister(folder: str) -> list[str]:
    return FILES.get(folder, [f"my-{folder}.safetensors"])


@pytest.fixture(scope="module")
def info(registry) -> dict[str, dict[str, Any]]:
    return object_info(registry, lister=_lister)


def _kind(spec: list[Any]) -> str:
    return spec[0] if isinstance(spec[0], str) else "COMBO"


def _shape(entry: dict[str, Any]) -> dict[str, Any]:
    """What a client wires by: input names in order with their types, outputs."""
    inputs = {group: [(name, _kind(spec)) for name, spec in entry["input"].get(group, {}).items()]
              for group in ("required", "optional")}
    return {**inputs, "output": list(entry["output"]), "output_name": list(entry["output_name"])}


def test_classes_in_comfyuis_object_info_have_its_inputs_and_outputs(info):
    fixture = comfyui_object_info()
    assert set(fixture) <= set(info), sorted(set(fixture) - set(info))
    differ = {cls: (_shape(info[cls]), _shape(theirs)) for cls, theirs in fixture.items()
              if _shape(info[cls]) != _shape(theirs)}
    assert set(differ) == set(KNOWN_DIFFERENCES), differ


def test_every_class_we_import_or_export_is_described(info):
    exported = {cls for cls in EXPORTED.values() if not cls.startswith("(")}
    assert exported <= set(info)
    assert set(CLASSES) == set(info)  # every class the default registry has a node for


def test_combo_lists_are_what_we_run(info):
    fixture = comfyui_object_info()
    for cls, theirs in fixture.items():
        for group in ("required", "optional"):
            for name, (kind, options) in theirs["input"].get(group, {}).items():
                if not isinstance(kind, list) or "files" in options:
                    continue
                ours = info[cls]["input"][group][name][0]
                assert set(ours) - set(kind) == EXTRA_CHOICES.get((cls, name), set()), (cls, name)
                left_out = set(kind) - set(ours)
                if name in _SAMPLER_LISTS:  # imported as the nearest of ours, with a note
                    assert {*NEAREST_SAMPLERS, *NEAREST_SCHEDULERS} & left_out, (cls, name)
                elif (cls, name) not in _FAMILY_TYPES:
                    assert left_out == LEFT_OUT.get((cls, name), set()), (cls, name, left_out)


def test_sampler_names_are_comfyuis_for_ours(info):
    samplers = info["KSampler"]["input"]["required"]["sampler_name"][0]
    assert {"euler", "dpmpp_2m", "uni_pc", "uni_pc_bh2", "ddim"} <= set(samplers)
    assert "unipc" not in samplers and "unipc_bh1" not in samplers  # our names, not ComfyUI's
    add_noise = info["KSamplerAdvanced"]["input"]["required"]["add_noise"]
    assert add_noise[0] == ["enable", "disable"] and add_noise[1]["default"] == "enable"
    assert info["ModelSamplingDiscrete"]["input"]["required"]["zsnr"][0] == "BOOLEAN"
    seed = info["KSampler"]["input"]["required"]["seed"][1]  # our Noise Source's seed
    assert seed["control_after_generate"] and seed["tooltip"]


def test_entries_have_comfyuis_node_info_shape(info):
    keys = {"input", "input_order", "output", "output_is_list", "output_name", "name",
            "display_name", "description", "python_module", "category", "output_node",
            "deprecated", "experimental"}
    for cls, entry in info.items():
        assert keys <= set(entry), cls
        assert entry["name"] == cls and entry["python_module"] == "nodes"
        assert entry["input_order"] == {g: list(v) for g, v in entry["input"].items()}
        assert len(entry["output"]) == len(entry["output_is_list"]) == len(entry["output_name"])
        for group in ("required", "optional"):
            for name, spec in entry["input"].get(group, {}).items():
                _check_widget(cls, name, spec)
    assert info["SaveImage"]["output_node"] and not info["KSampler"]["output_node"]
    assert info["SaveImage"]["input"]["hidden"] == {"prompt": "PROMPT",
                                                    "extra_pnginfo": "EXTRA_PNGINFO"}
    image = info["LoadImage"]["input"]["required"]["image"]
    assert image[0] == ["example.png"] and image[1]["image_upload"] is True


def _check_widget(cls: str, name: str, spec: Any) -> None:
    assert isinstance(spec, list) and len(spec) == 2 and isinstance(spec[1], dict), (cls, name)
    kind, options = spec
    if isinstance(kind, list):
        assert all(isinstance(c, str) for c in kind), (cls, name)
        if "default" in options:
            assert options["default"] in kind, (cls, name)
    elif kind in ("INT", "FLOAT"):
        assert options.get("min", options["default"]) <= options["default"] \
            <= options.get("max", options["default"]), (cls, name)


def _defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The widget values a ComfyUI front end fills in for a new node."""
    values = {}
    for name, (kind, options) in entry["input"]["required"].items():
        if isinstance(kind, list):
            values[name] = options.get("default", kind[0] if kind else "")
        elif "default" in options or kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            values[name] = options.get("default", {"INT": 0, "FLOAT": 0.0, "STRING": "",
                                                   "BOOLEAN": False}.get(kind))
    return values


def _client(info: dict[str, dict[str, Any]]) -> Any:
    def node(cls: str, **links: list[Any]) -> dict[str, Any]:
        return {"class_type": cls, "inputs": {**_defaults(info[cls]), **links}}

    return node


def test_a_client_filling_in_defaults_builds_a_prompt_we_run(registry, info):
    """A ComfyUI client's text-to-image prompt, every widget at its object_info default."""
    node = _client(info)
    prompt = {
        "4": node("CheckpointLoaderSimple"),
        "6": node("CLIPTextEncode", clip=["4", 1]),
        "7": node("CLIPTextEncode", clip=["4", 1]),
        "5": node("EmptyLatentImage"),
        "3": node("KSampler", model=["4", 0], positive=["6", 0], negative=["7", 0],
                  latent_image=["5", 0]),
        "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", images=["8", 0]),
    }
    prompt["6"]["inputs"]["text"] = "a lighthouse at dawn"
    assert prompt["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"
    assert problems(prompt) == []  # ComfyUI would take it too
    graph = load_comfy(prompt, "client.json", registry)
    assert validate(graph, registry) == []
    types = sorted(n.type for n in graph.nodes.values())
    assert types.count("conditioning.text_encode") == 2 and "sampling.sampler" in types
    sampler = next(n for n in graph.nodes.values() if n.type == "sampling.sampler")
    assert sampler.values["sampler"] == "euler" and sampler.values["steps"] == 20


def test_a_client_builds_split_sampling_from_defaults(registry, info):
    node = _client(info)
    prompt = {
        "1": node("CheckpointLoaderSimple"), "2": node("CLIPTextEncode", clip=["1", 1]),
        "3": node("CLIPTextEncode", clip=["1", 1]), "4": node("EmptyLatentImage"),
        "5": node("RandomNoise"), "6": node("KSamplerSelect"),
        "7": node("BasicScheduler", model=["1", 0]),
        "8": node("CFGGuider", model=["1", 0], positive=["2", 0], negative=["3", 0]),
        "9": node("SamplerCustomAdvanced", noise=["5", 0], guider=["8", 0], sampler=["6", 0],
                  sigmas=["7", 0], latent_image=["4", 0]),
        "10": node("VAEDecode", samples=["9", 0], vae=["1", 2]),
        "11": node("SaveImage", images=["10", 0]),
    }
    assert problems(prompt) == []
    graph = load_comfy(prompt, "client.json", registry)
    assert validate(graph, registry) == []


def test_our_defaults_are_values_comfyui_accepts_too(info):
    """A client may send the same prompt to ComfyUI itself: our defaults are in its ranges
    and lists (links left out)."""
    for cls in comfyui_object_info():
        if cls == "LoadLatent":  # its file has no default: ComfyUI lists the input folder's
            continue
        found = problems({"1": {"class_type": cls, "inputs": _defaults(info[cls])}})
        assert [p for p in found if "missing" not in p] == [], cls


@pytest.mark.parametrize("cls", sorted(CLASSES))
def test_every_class_at_its_defaults_imports_with_valid_values(registry, info, cls):
    """One node with every widget at its default: our importer takes the values and our
    declarations accept them (links are left out here; they are checked above)."""
    prompt = {"1": {"class_type": cls, "inputs": _defaults(info[cls])}}
    graph = load_comfy(prompt, "one-node.json", registry, strict=True)
    found = [p for p in validate(graph, registry)
             if p.node_id is not None and p.field is not None and "input linked" not in p.message]
    assert found == []


# one node alone, at its defaults, exported back: ComfyUI classes ours save as another
# (the same settings), and nodes that export only with their links or consumers
EXPORTS_AS = {"LoraLoader": "LoraLoaderModelOnly",  # no clip linked here
              "IPAdapter": "IPAdapterAdvanced", "CheckpointLoader": "CheckpointLoaderSimple",
              "ModelSamplingAuraFlow": "ModelSamplingSD3",
              "EmptySD3LatentImage": "EmptyLatentImage",
              "ModelMergeSD2": "ModelMergeSD1",  # the same widgets: one class for both
              "IPAdapterStyleComposition": "IPAdapterAdvanced",  # no composition image here
              "LazyCache": "EasyCache",  # one Step Cache for both
              "ConditioningAverage ": "ConditioningAverage",  # the old name with a space
              "DiffusersLoader": "CheckpointLoaderSimple"}  # import only
NOT_ALONE = {"ControlNetApply", "ControlNetApplyAdvanced", "ControlNetApplySD3",  # need a negative
             "GLIGENTextBoxApply",  # needs its GLIGEN file linked
             "RandomNoise", "DisableNoise"}  # fold into the sampler they feed


@pytest.mark.parametrize("cls", sorted(set(CLASSES) - NOT_ALONE))
def test_every_class_at_its_defaults_exports_back_the_same(registry, info, cls):
    inputs = _defaults(info[cls])
    graph = load_comfy({"1": {"class_type": cls, "inputs": inputs}}, "one.json", registry)
    exported = to_comfy_api(graph, registry)
    assert [item["class_type"] for item in exported.values()] == [EXPORTS_AS.get(cls, cls)]
    if cls not in EXPORTS_AS:
        back = next(iter(exported.values()))["inputs"]
        assert {k: v for k, v in back.items() if k in inputs} == inputs
        assert set(back) - set(inputs) <= set(info[cls]["input"].get("optional", {}))


def test_file_combos_list_the_folder_on_each_call(registry):
    first = object_info(registry, lister=lambda folder: ["a.safetensors"])
    first["KSampler"]["input"]["required"]["steps"][1]["default"] = 99  # a caller's edit
    second = object_info(registry, lister=lambda folder: ["a.safetensors", "b.safetensors"])
    assert first["LoraLoader"]["input"]["required"]["lora_name"][0] == ["a.safetensors"]
    assert second["LoraLoader"]["input"]["required"]["lora_name"][0] == ["a.safetensors",
                                                                         "b.safetensors"]
    assert second["KSampler"]["input"]["required"]["steps"][1]["default"] == 20


def test_object_info_imports_no_torch():
    code = ("import sys; from app.interop.comfy_object_info import object_info; "
            "info = object_info(); assert 'KSampler' in info; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'PySide6') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_display_names_are_our_titles_and_tell_shared_classes_apart(info):
    names = [entry["display_name"] for entry in info.values()]
    assert len(names) == len(set(names))
    assert info["CheckpointLoaderSimple"]["display_name"] == "Load Checkpoint"
    assert info["LatentUpscaleBy"]["display_name"].endswith("(LatentUpscaleBy)")
