"""The HTTP API: `create_app(app)` builds the FastAPI application (no work at import time)."""
