"""Use cases shared by the CLI and the HTTP API; each turns a request into events.

One module per area: `feeds`, `subscriptions`, `labels`, `models`.
"""
