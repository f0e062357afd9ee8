"""Driving load: Locust (users, ramp shape, per-second recorder), wrk, a validating client, expected answers."""
