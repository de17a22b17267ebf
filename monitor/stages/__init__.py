"""Pipeline stages: followers that run the pure steps of `monitor.pipeline` and record events."""
