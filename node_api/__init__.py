"""The node API: what a node module may import besides ``pipelines``.

Node declarations, value and port types, the run context handed to node functions, the
events they emit and the error root. No torch, no Qt, nothing from ``app``.
"""
