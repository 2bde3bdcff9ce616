"""Benchmarks: outside the product, run by ``make bench`` and printing their figures."""
