"""Running the stacks under test: one stack at a time on free ports, and the fingerprint beside every result."""
