"""Demo mode and platform connections as state machines, metrics, the dashboard."""
