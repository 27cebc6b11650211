# pyright: strict, reportMissingTypeStubs=false, reportUnknownMemberType=false
"""Durable orchestrator generator functions: the run, the edge smoke test and its device pool, the approval and
the fleet rollout.

Orchestrators are replayed: they do no I/O, read no clock but ``context.current_utc_datetime`` and take
every setting from their input.
"""
