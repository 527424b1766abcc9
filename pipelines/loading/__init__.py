"""Reading models from disk: folders, single files, conversion, detection, safe readers, model folders, LoRA, embeddings, upscalers."""
