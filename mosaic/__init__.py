"""Mosaic: a self-hosted, multi-user AI harness."""
