# syntax=docker/dockerfile:1
# Build: a wheel of the project (it carries the Alembic scripts and the seed corpus).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor monitor
COPY classifiers classifiers
COPY alembic alembic
COPY seed_corpus seed_corpus
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Run: the wheel and its dependencies only, as an unprivileged user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 monitor && mkdir /data && chown monitor /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER monitor
WORKDIR /home/monitor
ENV MONITOR_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
# Liveness of the HTTP roles (all, api); compose turns it off for worker and scheduler.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["monitor"]
CMD ["run", "--host", "0.0.0.0", "--port", "8080"]
