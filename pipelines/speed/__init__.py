"""Speed settings of a run: torch threads, cold start, and acceleration of the denoiser."""
