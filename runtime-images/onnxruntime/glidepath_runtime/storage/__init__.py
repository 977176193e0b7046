"""Model storage for the fetcher: URI parsing and redaction, one backend per scheme (``local``, ``web``,
``s3``, ``gcs``), retries, digests, safe archive unpacking and the runtime layouts.

Backends that need a client library import it lazily, so ``file``/``pvc``/``http(s)`` work with the
standard library alone and ``s3``/``gs`` only need the ``s3``/``gcs`` extras when used.
"""
