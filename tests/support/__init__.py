"""Test support code: the local Kubernetes control plane harness (cluster.py)."""
