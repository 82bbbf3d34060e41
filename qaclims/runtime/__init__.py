"""What every stage runs on: atomic writes, devices, GPU claims and the launcher, provenance, sharding."""
