"""What kind of class a model folder's ``model_index.json`` may have us instantiate.

Named families list their exact classes (``Component.classes``). The ``unknown`` family (a
UNet folder whose family could not be named) stays permissive by name (``diffusers.*``,
``transformers.*``), so this is the rule every family meets on top of its list: a component
is built only from

- a network class: a ``diffusers`` model (``ModelMixin``) or a ``transformers`` model
  (``PreTrainedModel``), for every role but tokenizers;
- a tokenizer or image processor class (``PreTrainedTokenizerBase``,
  ``ImageProcessingMixin``), for the tokenizer role;

and never from a ``transformers`` ``Auto*`` class (it would build whatever architecture the
component's own ``config.json`` names, so the index would no longer say what is built),
a pipeline, a function or any other object the libraries export. Schedulers are never
instantiated from the index (their config is read), so any diffusers name is harmless there.
"""

from __future__ import annotations

import importlib


def _bases(role: str) -> tuple[type, ...]:
    if role == "tokenizer":
        tokenization = importlib.import_module("transformers.tokenization_utils_base")
        processing = importlib.import_module("transformers.image_processing_base")
        return tokenization.PreTrainedTokenizerBase, processing.ImageProcessingMixin
    diffusers_models = importlib.import_module("diffusers.models.modeling_utils")
    transformers_models = importlib.import_module("transformers.modeling_utils")
    return diffusers_models.ModelMixin, transformers_models.PreTrainedModel


def wrong_kind(cls: object, role: str) -> str | None:
    """Why ``cls`` may not be instantiated for a component of ``role``, or None."""
    if not isinstance(cls, type):
        return "not a class"
    if cls.__module__.startswith("transformers.models.auto"):
        return "an auto class (it builds whatever the component's config names); name the class"
    if not issubclass(cls, _bases(role)):
        wanted = "a tokenizer or image processor" if role == "tokenizer" else "a model class"
        return f"not {wanted}"
    return None
