"""ComfyUI interop for image and latent operations (issue 16): ImageScaleToTotalPixels,
ImagePadForOutpaint, LatentComposite(Masked), the tiled VAE nodes, InpaintModelConditioning,
InstructPixToPixConditioning and the animated savers: classes, widget values (with notes for
what is approximated) and export back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.interop.comfy_fields import FieldReader, show

if TYPE_CHECKING:
    from app.engine.graph import Graph, NodeInstance

_COND_LINKS = {"positive": "positive", "negative": "negative", "vae": "vae", "pixels": "image"}
_COND_OUTPUTS = ("positive", "negative", "latent")
# ComfyUI's SaveAnimatedWEBP "method" names <-> libwebp effort
WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}


def comfy_classes(comfy_class: Any) -> dict[str, Any]:
    """ComfyUI class -> ``ComfyClass`` (passed in: comfy_names imports nothing of ours)."""
    return {
        "ImageScaleToTotalPixels": comfy_class(
            "image.scale_to_total_pixels", {"image": "image"}, ("image",),
            ("upscale_method", "megapixels", "resolution_steps")),
        "ImagePadForOutpaint": comfy_class(
            "image.pad_for_outpaint", {"image": "image"}, ("image", "mask"),
            ("left", "top", "right", "bottom", "feathering")),
        "LatentComposite": comfy_class(
            "latent.composite", {"samples_to": "destination", "samples_from": "source"},
            ("latent",), ("x", "y", "feather")),
        "LatentCompositeMasked": comfy_class(
            "latent.composite_masked",
            {"destination": "destination", "source": "source", "mask": "mask"}, ("latent",),
            ("x", "y", "resize_source")),
        "ImageCompositeMasked": comfy_class(
            "image.composite_masked",
            {"destination": "destination", "source": "source", "mask": "mask"}, ("image",),
            ("x", "y", "resize_source")),
        "VAEEncodeTiled": comfy_class(
            "vae.encode", {"pixels": "image", "vae": "vae"}, ("latent",),
            ("tile_size", "overlap", "temporal_size", "temporal_overlap")),
        "InpaintModelConditioning": comfy_class(
            "conditioning.inpaint_model", {**_COND_LINKS, "mask": "mask"}, _COND_OUTPUTS,
            ("noise_mask",)),
        "InstructPixToPixConditioning": comfy_class(
            "conditioning.instruct_pix2pix", _COND_LINKS, _COND_OUTPUTS),
        "SaveAnimatedWEBP": comfy_class(
            "image.save_animated", {"images": "image"}, (),
            ("filename_prefix", "fps", "lossless", "quality", "method")),
        "SaveAnimatedPNG": comfy_class(
            "image.save_animated", {"images": "image"}, (),
            ("filename_prefix", "fps", "compress_level")),
    }


def comfy_values(cls: str, fields: FieldReader, note: Any) -> dict[str, Any] | None:
    """Our values for these classes' widgets (None: not one of them)."""
    integer, number = fields.integer, fields.number
    if cls == "ImageScaleToTotalPixels":
        return {"method": fields.text("upscale_method", "nearest-exact"),
                "megapixels": number("megapixels", 1.0),
                "resolution_steps": integer("resolution_steps", 1)}
    if cls == "ImagePadForOutpaint":
        return {k: integer(k, 40 if k == "feathering" else 0)
                for k in ("left", "top", "right", "bottom", "feathering")}
    if cls == "LatentComposite":
        return {k: integer(k, 0) for k in ("x", "y", "feather")}
    if cls in ("LatentCompositeMasked", "ImageCompositeMasked"):
        return {"x": integer("x", 0), "y": integer("y", 0),
                "resize_source": fields.flag("resize_source", False)}
    if cls in ("VAEDecodeTiled", "VAEEncodeTiled"):
        note(f"{cls}: tiles are blended as diffusers' tiled VAE does (one pass), not "
             "ComfyUI's three-pass blend: the seams fall elsewhere")
        return {"tiling": "always", "tile_size": integer("tile_size", 512),
                "overlap": integer("overlap", 64)}
    if cls == "InpaintModelConditioning":
        return {"noise_mask": fields.flag("noise_mask", True)}
    if cls == "InstructPixToPixConditioning":
        return {}
    if cls == "SaveAnimatedWEBP":
        method = fields.text("method", "default")
        if method not in WEBP_METHODS:
            fields.fail("method", f"{show(method)} is not one of {', '.join(WEBP_METHODS)}")
        return {"format": "webp", "filename_prefix": fields.text("filename_prefix", "ComfyUI"),
                "fps": number("fps", 6.0), "lossless": fields.flag("lossless", True),
                "quality": integer("quality", 80), "method": WEBP_METHODS[method]}
    if cls == "SaveAnimatedPNG":
        return {"format": "png", "filename_prefix": fields.text("filename_prefix", "ComfyUI"),
                "fps": number("fps", 6.0), "compress_level": integer("compress_level", 4)}
    return None


EXPORT_CLASSES = {
    "image.scale_to_total_pixels": "ImageScaleToTotalPixels",
    "image.pad_for_outpaint": "ImagePadForOutpaint",
    "latent.composite": "LatentComposite", "latent.composite_masked": "LatentCompositeMasked",
    "image.composite_masked": "ImageCompositeMasked",
    "conditioning.inpaint_model": "InpaintModelConditioning",
    "conditioning.instruct_pix2pix": "InstructPixToPixConditioning",
    "image.save_animated": "SaveAnimatedWEBP",
}
EXPORT_INPUTS = {
    "image.scale_to_total_pixels": {"image": "image"},
    "image.pad_for_outpaint": {"image": "image"},
    "latent.composite": {"destination": "samples_to", "source": "samples_from"},
    "latent.composite_masked": {"destination": "destination", "source": "source",
                                "mask": "mask"},
    "image.composite_masked": {"destination": "destination", "source": "source", "mask": "mask"},
    "conditioning.inpaint_model": {"positive": "positive", "negative": "negative", "vae": "vae",
                                   "image": "pixels", "mask": "mask"},
    "conditioning.instruct_pix2pix": {"positive": "positive", "negative": "negative",
                                      "vae": "vae", "image": "pixels"},
    "image.save_animated": {"image": "images"},
}


def export_problem(graph: Graph, node: NodeInstance) -> str | None:
    """Why a node of ours has no ComfyUI counterpart with these values, or None."""
    node_type, v = node.type, node.values
    if node_type == "image.save_animated" and v.get("format") == "gif":
        return "ComfyUI has no animated GIF saver (use webp or png)"
    if node_type == "conditioning.instruct_pix2pix" and v.get("image_cfg", 1.0) != 1.0:
        return "ComfyUI's InstructPixToPixConditioning has no image guidance; set image_cfg 1"
    return None


def export_node(node_type: str, v: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(ComfyUI class, widget inputs) of a node of ours this module exports, else None."""
    if node_type in ("vae.decode", "vae.encode"):
        if v.get("tiling") != "always":
            return None
        tile = v.get("tile_size") or 512
        overlap = min(v.get("overlap") or tile // 4, tile // 4)
        cls = "VAEDecodeTiled" if node_type == "vae.decode" else "VAEEncodeTiled"
        return cls, {"tile_size": tile, "overlap": overlap, "temporal_size": 64,
                     "temporal_overlap": 8}
    if node_type not in EXPORT_CLASSES:
        return None
    if node_type == "image.scale_to_total_pixels":
        return EXPORT_CLASSES[node_type], {
            "upscale_method": v.get("method"), "megapixels": v.get("megapixels"),
            "resolution_steps": v.get("resolution_steps")}
    if node_type == "image.save_animated":
        prefix = v.get("filename_prefix")
        if v.get("format") == "png":
            return "SaveAnimatedPNG", {"filename_prefix": prefix, "fps": v.get("fps"),
                                       "compress_level": v.get("compress_level")}
        method = min(WEBP_METHODS, key=lambda name: abs(WEBP_METHODS[name] - v.get("method", 4)))
        return "SaveAnimatedWEBP", {"filename_prefix": prefix, "fps": v.get("fps"),
                                    "lossless": v.get("lossless"), "quality": v.get("quality"),
                                    "method": method}
    names = {"image.pad_for_outpaint": ("left", "top", "right", "bottom", "feathering"),
             "latent.composite": ("x", "y", "feather"),
             "latent.composite_masked": ("x", "y", "resize_source"),
             "image.composite_masked": ("x", "y", "resize_source"),
             "conditioning.inpaint_model": ("noise_mask",)}.get(node_type, ())
    return EXPORT_CLASSES[node_type], {k: v.get(k) for k in names}
