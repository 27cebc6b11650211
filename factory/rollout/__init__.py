"""Staged rollout of an approved version to the fleet: rings, gates on the devices' own signals, rollback."""
