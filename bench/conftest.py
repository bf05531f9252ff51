"""Benchmarks are run explicitly (`pytest bench/ --benchmark-only`), never by plain `pytest`."""
