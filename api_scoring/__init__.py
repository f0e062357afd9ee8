"""The scoring service: features from Redis, two model calls, one combined score."""
