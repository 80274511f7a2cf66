"""What one request may cost the server (no web stack imported: the command line reads these)."""

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a request's body: the file and the form fields together
BODY_SECONDS = 60.0  # time a request's body may take to arrive, from the request's start to its last byte
