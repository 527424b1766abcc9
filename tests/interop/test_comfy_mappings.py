"""The ComfyUI mapping modules: each has the interface comfy_mappings.py describes, and no two
claim the same ComfyUI class or node type (so the order of MAPPINGS cannot matter)."""

from __future__ import annotations

from collections import Counter

from app.interop import comfy_custom, comfy_mappings
from app.interop.comfy_export import _CLASS
from app.interop.comfy_names import CLASSES, ComfyClass


def test_every_module_has_the_interface() -> None:
    for module in comfy_mappings.MAPPINGS:
        assert callable(module.comfy_classes), module.__name__
        assert callable(module.comfy_values), module.__name__
        assert isinstance(module.EXPORT_CLASSES, dict), module.__name__
        assert isinstance(module.EXPORT_INPUTS, dict), module.__name__
        assert hasattr(module, "export_node") or hasattr(module, "export_values"), \
            module.__name__
        assert set(module.EXPORT_INPUTS) <= set(module.EXPORT_CLASSES) | {
            "vae.decode", "vae.encode"}, module.__name__


def test_no_two_modules_claim_the_same_class_or_type() -> None:
    modules = (*comfy_mappings.MAPPINGS, comfy_custom)
    classes = Counter(c for m in modules for c in m.comfy_classes(ComfyClass))
    assert [c for c, n in classes.items() if n > 1] == []
    types = Counter(t for m in modules for t in m.EXPORT_CLASSES)
    assert [t for t, n in types.items() if n > 1] == []


def test_the_tables_hold_every_module_entry_unchanged() -> None:
    for module in comfy_mappings.MAPPINGS:
        for cls, entry in module.comfy_classes(ComfyClass).items():
            assert CLASSES[cls] == entry, (module.__name__, cls)
        for node_type, cls in module.EXPORT_CLASSES.items():
            assert _CLASS[node_type] == cls, (module.__name__, node_type)


def test_a_module_value_reader_answers_only_for_its_classes() -> None:
    from app.interop.comfy_fields import FieldReader

    notes: list[str] = []
    for module in comfy_mappings.MAPPINGS:
        fields = FieldReader("w.json", "node #1 (KSampler)", {})
        assert module.comfy_values("KSampler", fields, notes.append) is None, module.__name__
