"""Batches: jobs from sweeps and files, the manifest that makes runs resumable, the local runner
and the Ray runner.
"""
