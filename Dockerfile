# One image for web, worker and beat (the command differs).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 \
    VAR_DIR=/app/var STATIC_ROOT=/app/staticfiles
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 app

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings, not secrets: a random throwaway key for this step only
# (production settings refuse a short one).
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    ENVIRONMENT=production ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/audit && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "creditplatform.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
