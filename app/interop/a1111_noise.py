"""AUTOMATIC1111's noise settings: ``ENSD`` (Eta noise seed delta) and ``RNG``.

A1111 draws each image's starting noise from a generator seeded with its seed, then, when
ENSD is not 0, reseeds that generator ``seed + ENSD`` before the sampler draws its per-step
noise (``modules/rng.py``, ``ImageRNG.first``); our Noise Source's ``step_seed_delta`` does
the same. Its SDE samplers (``DPM++ SDE``, ``2M SDE``, ``3M SDE``) draw Brownian-tree noise
seeded from the seed alone, so ENSD does not change them. ``RNG`` says which generator drew
the noise: ``CPU`` is torch's CPU generator, ours; ``GPU`` (the default, not written) and
``NV`` give other numbers for the same seed.
"""

from __future__ import annotations

from app.engine.graph import Graph
from app.interop.comfy_fields import show

NOISE_FIELDS = ("ENSD", "RNG")
NOISE_NODE = "5"  # the txt2img recipe's Noise Source
_MAX_DELTA = 2**63 - 1


def add_ensd(graph: Graph, settings: dict[str, str], notes: list[str]) -> None:
    """Set the Noise Source's ``step_seed_delta`` from ``ENSD``; note an ``RNG`` we differ from."""
    rng = settings.get("RNG", "").strip()
    if rng and rng.upper() != "CPU":
        notes.append(f"RNG {show(rng)}: A1111 drew the noise with its {rng} generator; here it "
                     "is torch's CPU generator (A1111's 'RNG: CPU'), so the seed gives other "
                     "noise")
    text = settings.get("ENSD", "").strip()
    if not text or "sde" in settings.get("Sampler", "").lower():
        return  # A1111's SDE samplers seed their Brownian noise from the seed alone
    try:
        delta = int(text)
    except ValueError:
        notes.append(f"ENSD {show(text)} not understood; ignored")
        return
    if not 0 <= delta <= _MAX_DELTA:
        notes.append(f"ENSD {show(text)} out of range; ignored")
        return
    if delta:
        graph.nodes[NOISE_NODE].values["step_seed_delta"] = delta
