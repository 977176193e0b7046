"""Peer servers for the benchmark, each run by its own virtual environment's Python (not imported here)."""
