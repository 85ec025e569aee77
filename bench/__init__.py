"""`make bench`: the orchestrator against the sandbox with injected upstream latency."""
