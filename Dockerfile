# Recovery Portal image: web (gunicorn), worker and beat (Celery) and the simulated tenant share it.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl \
    && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN python manage.py compilemessages --ignore=.venv -v 0 \
    && SECRET_KEY=build-only-secret-key-not-used-at-runtime-000 DEBUG=true \
       python manage.py collectstatic --noinput -v 0
RUN useradd --system --uid 10001 portal && mkdir -p /data/keys /data/simtenant && chown -R portal /data
USER portal
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
EXPOSE 8000
CMD ["gunicorn", "recovery_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
