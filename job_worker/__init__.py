"""The job workers: one process kind per stack (asyncio for async, a thread pool for sync) that take jobs from
the stack's queue and score them with the reference's own ``score()``."""
