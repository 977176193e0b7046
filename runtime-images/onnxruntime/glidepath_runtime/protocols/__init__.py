"""Wire-protocol codecs: pure functions between request/response bytes and numpy arrays.

No HTTP here (status codes travel as :mod:`glidepath_runtime.errors` classes), so the same codec serves
REST now and gRPC or other transports later. One module per protocol: :mod:`.v2` is the Open Inference
Protocol (KServe V2) JSON REST codec.
"""
