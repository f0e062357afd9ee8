"""The benchmark suite: profiling, timeit, Locust scenarios, a configuration sweep, and the report."""
