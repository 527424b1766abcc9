"""Errors a node may raise for what the user did: the one error root and a field-level error.

``StudioError`` lives in ``pipelines.errors`` (the bottom layer) so that every layer shares it;
it is re-exported here so that node modules import their errors from the node API.
"""

from __future__ import annotations

from pipelines.errors import StudioError

__all__ = ["NodeInputError", "StudioError"]


class NodeInputError(StudioError):
    """A node's input values do not make sense (together); names the field to change.

    Args:
        field: The input to change, as declared.
        message: What is wrong and what to do.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
