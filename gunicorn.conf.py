"""gunicorn settings, read from the working directory by every gunicorn started in the checkout
(``bin/run``, the Docker image, the tests and benchmarks): its access and error logs are
redacted like the application's (``creditplatform/gunicorn_logging.py``)."""

logger_class = "creditplatform.gunicorn_logging.RedactingLogger"
