"""The project: settings, URLs, ASGI entry point, middleware and API plumbing, apart from
the apps."""
