"""Job mode over Redis Streams: keys and job ids, the job record, the Lua scripts, the clients of both stacks,
and the job routes of the scoring services."""
