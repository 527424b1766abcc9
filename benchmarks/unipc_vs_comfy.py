"""UniPC numerics: our ``unipc`` / ``unipc_bh1`` (diffusers' ``UniPCMultistepScheduler``)
against ComfyUI's ``uni_pc`` / ``uni_pc_bh2`` (``comfy/extra_samplers/uni_pc.py``), on a toy
denoiser whose exact answer is known, over the same sigmas and starting noise.

The reference below is written from the UniPC paper's multistep B(h) update as ComfyUI runs
it (sigma as time, data prediction, variance-preserving scaling, order ``min(3, steps - 1)``,
lower orders at the end, no corrector on the last step, the last sigma 0 replaced by 0.001);
with diffusers' order (2) and final-order rule it must reproduce ours, which checks the
reference itself. Toy values are about 1 in size (the data's std is 0.8). The toy data is Gaussian per element, N(mu, s^2), so the denoiser
D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu) is exact.

Run: .venv/bin/python benchmarks/unipc_vs_comfy.py
"""

from __future__ import annotations

import math

import torch

MU, S = 0.3, 0.8


def denoised(x_ve: torch.Tensor, sigma: float) -> torch.Tensor:
    """The exact denoiser of the toy data at noise level ``sigma`` (k-diffusion scale)."""
    return MU + S * S / (S * S + sigma * sigma) * (x_ve - MU)


def _vp(sigma: float) -> tuple[float, float]:
    """(alpha, std) of the variance-preserving form of ``sigma``."""
    alpha = 1.0 / math.sqrt(1.0 + sigma * sigma)
    return alpha, sigma * alpha


def reference(x: torch.Tensor, sigmas: list[float], variant: str, order: int | None = None,
              lower_final_always: bool = True, end: float = 0.001) -> torch.Tensor:
    """UniPC multistep (B(h) = h for ``bh1``, e^h - 1 for ``bh2``) from the variance-preserving
    sample ``x`` over ``sigmas``, returning the clean sample.

    ComfyUI's choices are the defaults: ``order`` None is ``min(3, steps - 1)``, lower orders
    on the last steps always, a last sigma of 0 replaced by ``end`` = 0.001 (and the result
    divided by its alpha). Diffusers' UniPC (our ``unipc``): ``order=2``, lower final orders
    always too, ``end=0`` (the last step is the data prediction itself)."""
    steps = len(sigmas) - 1
    order = min(3, steps - 1) if order is None else order
    times = [*sigmas[:-1], end if sigmas[-1] == 0 else sigmas[-1]]
    lower_final = lower_final_always or steps < 15

    def model(x: torch.Tensor, sigma: float) -> torch.Tensor:  # data prediction, VP input
        alpha, _ = _vp(sigma)
        return denoised(x / alpha, sigma)

    models, prev = [model(x, times[0])], [times[0]]
    for step in range(1, steps + 1):
        this = min(order, step, steps + 1 - step) if lower_final else min(order, step)
        x, m = _update(x, models[-this:], prev[-this:], times[step], this, variant,
                       corrector=step < steps, model=model)
        if step < steps:
            models.append(m if m is not None else model(x, times[step]))
            prev.append(times[step])
    return x if times[-1] == 0.0 else x / _vp(times[-1])[0]


def _update(x: torch.Tensor, models: list[torch.Tensor], times: list[float], t: float,
            order: int, variant: str, corrector: bool, model: object
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One UniPC step from ``times[-1]`` to ``t`` with the last ``order`` data predictions."""
    lam = (lambda s: -math.log(s)) if t > 0 else None
    alpha_t, std_t = _vp(t)
    _, std_0 = _vp(times[-1])
    m0 = models[-1]
    if t == 0.0:  # to sigma 0 the update is the data prediction itself (diffusers' final step)
        return m0.clone(), None
    h = lam(t) - lam(times[-1])
    rks = [(lam(times[-(i + 1)]) - lam(times[-1])) / h for i in range(1, order)]
    d1s = [(models[-(i + 1)] - m0) / rk for i, rk in zip(range(1, order), rks, strict=True)]
    hh = -h
    h_phi_1 = math.expm1(hh)
    b_h = hh if variant == "bh1" else math.expm1(hh)
    ranks = torch.tensor([*rks, 1.0], dtype=torch.float64)
    rows, b, h_phi_k, factorial = [], [], h_phi_1 / hh - 1, 1
    for i in range(1, order + 1):
        rows.append(ranks ** (i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    r, bt = torch.stack(rows), torch.tensor(b, dtype=torch.float64)
    base = (std_t / std_0) * x - alpha_t * h_phi_1 * m0
    x_t = base
    if d1s:
        rhos_p = [0.5] if order == 2 else torch.linalg.solve(r[:-1, :-1], bt[:-1]).tolist()
        x_t = base - alpha_t * b_h * sum(rho * d for rho, d in zip(rhos_p, d1s, strict=True))
    if not corrector:
        return x_t, None
    rhos_c = [0.5] if order == 1 else torch.linalg.solve(r, bt).tolist()
    m_t = model(x_t, t)  # type: ignore[operator]
    correction = sum((rho * d for rho, d in zip(rhos_c[:-1], d1s, strict=True)),
                     torch.zeros_like(x)) + rhos_c[-1] * (m_t - m0)
    return base - alpha_t * b_h * correction, m_t


def diffusers_run(noise: torch.Tensor, steps: int, variant: str
                  ) -> tuple[torch.Tensor, list[float]]:
    """Our ``unipc`` / ``unipc_bh1``: diffusers' UniPC as ``make_scheduler`` builds it (SD's
    schedule) with the loop's ``finite_final_sigma``, on the toy denoiser; returns the result
    and the sigmas of the schedule (ending at 0)."""
    from pipelines.sampling.samplers import finite_final_sigma, make_scheduler

    config = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
              "num_train_timesteps": 1000}
    scheduler = make_scheduler("unipc" if variant == "bh2" else "unipc_bh1", "normal", config)
    scheduler.set_timesteps(steps)
    schedule = [float(s) for s in scheduler.sigmas]
    finite_final_sigma(scheduler)
    sigmas = [float(s) for s in scheduler.sigmas]
    x = noise * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        alpha, _ = _vp(sigmas[i])
        eps = (x / alpha - denoised(x / alpha, sigmas[i])) / sigmas[i]
        x = scheduler.step(eps, t, x).prev_sample
    return x, schedule


def main() -> list[tuple[str, int, float, float, float]]:
    torch.manual_seed(0)
    noise = torch.randn(1, 4, 16, 16, dtype=torch.float64)
    rows = []
    print(f"{'ours vs ComfyUI':<26}{'steps':>6}{'ours-comfy, same x_T':>22}"
          f"{'ours-comfy, own x_T':>21}{'ref-ours (check)':>18}")
    for ours, comfy, variant in (("unipc", "uni_pc_bh2", "bh2"), ("unipc_bh1", "uni_pc", "bh1")):
        for steps in (5, 10, 20, 30):
            theirs, sigmas = diffusers_run(noise.float(), steps, variant)
            theirs = theirs.double()
            # the reference run with diffusers' choices must reproduce ours
            check = reference(noise, sigmas, variant, order=2,
                              end=0.0 if variant == "bh2" else 0.001)
            # diffusers starts from the noise itself (VP); ComfyUI from noise * sigma_max in
            # k-diffusion scale, i.e. noise * std(sigma_max) once variance-preserving
            same = reference(noise, sigmas, variant)
            own = reference(noise * _vp(sigmas[0])[1], sigmas, variant)
            row = (f"{ours} vs {comfy}", steps, (theirs - same).abs().max().item(),
                   (theirs - own).abs().max().item(), (theirs - check).abs().max().item())
            rows.append(row)
            print(f"{row[0]:<26}{steps:>6}{row[2]:>22.2e}{row[3]:>21.2e}{row[4]:>18.2e}")
    return rows


if __name__ == "__main__":
    main()
