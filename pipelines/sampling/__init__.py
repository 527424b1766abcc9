"""The denoising math: samplers, the denoise loop, noise, forward process, inpainting, previews, VAE."""
