"""Benchmarks of the Recovery Portal (docs/BENCHMARKS.md). Run with `make bench`.

Nothing in the portal imports from here.
"""
