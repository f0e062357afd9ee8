"""gRPC serving for any service of either stack: server options, health, reflection, error codes, metrics."""
