"""Glidepath: a Kubernetes operator that lands machine-learning models in production safely."""

__version__ = "0.1.0"
