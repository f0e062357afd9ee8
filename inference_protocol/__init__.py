"""The Open Inference Protocol (KServe v2): its ``.proto``, the generated messages, and the pure pieces both
stacks share: tensor encoding both ways, model metadata, and the mapping of errors to HTTP and gRPC."""
