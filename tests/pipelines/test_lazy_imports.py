"""diffusers' model packages load deferred: a run imports only the submodules it uses, and
everything those packages export is still there when asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
import pipelines.sampling.denoise, pipelines.loading.checkpoint
import diffusers
diffusers.UNet2DConditionModel, diffusers.AutoencoderKL, diffusers.EulerDiscreteScheduler
loaded = set(sys.modules)
print(sum(m.startswith("diffusers.models.transformers.") for m in loaded))
print(sum(m.startswith("diffusers.models.autoencoders.") for m in loaded))
from diffusers.models.unets import UNet1DModel          # the package's own names
from diffusers.models.transformers import SD3Transformer2DModel
import diffusers.models.unets as unets
print(UNet1DModel.__name__, SD3Transformer2DModel.__name__, unets.UNet2DConditionModel.__name__)
"""


def probe(eager: bool) -> list[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("STUDIO_EAGER_IMPORTS", None)
    if eager:
        env["STUDIO_EAGER_IMPORTS"] = "1"
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split("\n")


def test_a_run_imports_only_the_diffusers_models_it_uses() -> None:
    lazy = probe(eager=False)
    eager = probe(eager=True)
    # a UNet and a VAE need 2 of the ~76 transformer modules and 2-3 autoencoder modules
    assert int(lazy[0]) <= 3 and int(eager[0]) > 50
    assert int(lazy[1]) <= 4 and int(eager[1]) > 10
    assert lazy[2] == eager[2] == "UNet1DModel SD3Transformer2DModel UNet2DConditionModel"
