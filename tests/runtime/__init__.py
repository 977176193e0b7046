"""Tests of the ONNX Runtime model server and fetcher (runtime-images/onnxruntime)."""
