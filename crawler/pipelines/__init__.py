"""Item pipelines: cleaning (priority 100s), validation (200s), storage (300s)."""
