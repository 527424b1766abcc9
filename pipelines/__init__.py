"""The diffusion math and model plumbing (see docs/ARCHITECTURE.md).

Importing it installs an import finder that loads diffusers' model packages deferred
(``pipelines.speed.lazy_imports``; it imports nothing itself, ``STUDIO_EAGER_IMPORTS=1`` turns
it off), so whichever module first imports diffusers gets only the submodules it uses.
"""

from pipelines.speed.lazy_imports import install as _install_lazy_imports

_install_lazy_imports()
