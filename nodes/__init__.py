"""The node catalog: thin typed adapters over ``pipelines``, one module per family.

Every public module here is imported by the registry's discovery; declarations must
not import torch at module load (import inside the node function instead).
"""
