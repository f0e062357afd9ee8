"""The job queue over Redis Streams: key schema, job record, Lua scripts, the clients of both stacks."""
