"""The Markdown report: data (result files), figures (computation), charts (PNG) and prose, assembled by ``build``."""
