"""Non-learned baselines: colour / geometry lookups (lookup)."""
