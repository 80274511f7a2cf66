"""``mgmrn serve``: a local web app that classifies photos among a run's classes and among
classes its users describe by attributes (the optional ``serve`` extra: FastAPI, uvicorn)."""
