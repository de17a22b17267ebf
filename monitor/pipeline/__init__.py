"""Outgoing HTTP for the pipeline: SSRF guard, polite fetcher and robots.txt."""
