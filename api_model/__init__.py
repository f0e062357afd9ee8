"""The model service: one model core, served by an async app and a sync app."""
