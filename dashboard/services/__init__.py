"""Use cases: one function per use case, called by both the JSON API and the dashboard."""
