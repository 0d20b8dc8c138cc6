"""The HTTP server side of the bridge: a gunicorn worker that slow clients cannot stall."""
