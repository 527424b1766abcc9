"""Prompt encoding: conditioning, prompt weights, the CLIP byte-pair helpers."""
