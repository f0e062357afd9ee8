"""The reference: the scoring and model services of both stacks, FastAPI and Flask written as their docs teach.

It imports nothing else of this project; everything else imports it (doc/architecture.md).
"""
