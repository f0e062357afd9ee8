"""The Redis feature store: key schema, deterministic seeding, vector assembly and readers."""
