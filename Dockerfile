# syntax=docker/dockerfile:1
# The Python side of pgstack: one image, whose commands are
#   pgstack serve auth|demo|jobs --host 0.0.0.0   pgstack worker   pgstack migrate [--to ...]
# Dependencies come from uv.lock (every one a wheel: no compiler needed, none shipped).

FROM python:3.11-slim-bookworm AS build
# uv, pinned, only in this stage.
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/pgstack
WORKDIR /src
# The dependencies first, in a layer of their own that a code change does not rebuild.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY auth_service ./auth_service
COPY demo_service ./demo_service
COPY job_service ./job_service
COPY shared ./shared
COPY deploy ./deploy
# The project itself as a wheel in the environment (not an editable link to /src).
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 pgstack \
    && useradd --system --uid 10001 --gid pgstack --no-create-home --shell /usr/sbin/nologin pgstack
COPY --from=build /opt/pgstack /opt/pgstack
ENV PATH=/opt/pgstack/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8001 8002 8003
ENTRYPOINT ["pgstack"]
CMD ["serve", "auth", "--host", "0.0.0.0"]
