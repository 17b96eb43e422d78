"""Timing and scaling scripts (run from the repository root: python -m benchmarks.<script>).

A package, so that this folder wins over a `benchmarks` package that a dependency (Opacus 1.6)
installs into site-packages.
"""
