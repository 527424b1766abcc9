"""Where models live: the model cache, its keys and budgets, VRAM placement, weight precision."""
