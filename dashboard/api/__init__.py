"""The JSON API under /api/orchestrator (plain Django views, no DRF)."""
