"""One module per experiment: each starts the stacks it measures, drives load and writes its results."""
