"""The benchmark sections run by bench/bench.py, one module each (see bench/README.md)."""
