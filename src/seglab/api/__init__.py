"""The REST API (FastAPI): ``create_app(settings)``."""
