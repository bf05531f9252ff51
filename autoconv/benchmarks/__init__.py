"""Benchmarks of autoconv against plain NumPy and PyTorch, shared by ``autoconv bench`` and
the pytest-benchmark suite in ``bench/``."""
