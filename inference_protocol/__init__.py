"""The Open Inference Protocol (KServe v2) on the model services and in the scoring service's clients: its
``.proto`` and generated messages, tensors both ways, metadata, the REST routes (``routes_async`` / ``_sync``), the
gRPC servers (``grpc_async`` / ``_sync``) and the clients of either transport (``clients_async`` / ``_sync``).

Routes, errors and every gRPC status code a client can get, and when: doc/protocol.md.
"""
