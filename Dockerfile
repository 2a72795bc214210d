FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --system --no-cache --compile-bytecode --require-hashes -r requirements.lock
COPY . .
RUN DEBUG=1 python manage.py collectstatic --no-input -v 0 && python -m compileall -q -x /tests/ /app
RUN useradd --create-home secdesk && mkdir -p /app/media && chown secdesk /app/media
USER secdesk
EXPOSE 8000
# Binds 0.0.0.0:8000; WEB_CONCURRENCY, GUNICORN_THREADS, LOG_FORMAT tune it (deploy/gunicorn.conf.py).
CMD ["gunicorn", "secdesk.wsgi", "-c", "deploy/gunicorn.conf.py"]
