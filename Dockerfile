# syntax=docker/dockerfile:1
# claudescale's image: built in one stage (wheels), run in another with no compiler, no pip
# cache and no root. `docker build -t ghcr.io/claudescale/claudescale:0.1.0 .`
# The tag must match pyproject.toml's version and manifests/deployment.yaml's image.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY claudescale ./claudescale
RUN python -m venv /opt/claudescale \
    && /opt/claudescale/bin/pip install --upgrade pip \
    && /opt/claudescale/bin/pip install .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/claudescale/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 claudescale \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/claudescale \
        --shell /usr/sbin/nologin claudescale \
    && mkdir -p /var/lib/claudescale /etc/claudescale \
    && chown 10001:10001 /var/lib/claudescale
COPY --from=build /opt/claudescale /opt/claudescale
USER 10001:10001
WORKDIR /var/lib/claudescale
EXPOSE 8080 8081
# Commands run inside the pod (`kubectl exec ... claudescale approvals list`) find the
# service's settings and state without --config.
ENV CLAUDESCALE_CONFIG=/etc/claudescale/config.yaml
ENTRYPOINT ["claudescale"]
CMD ["run", "--config", "/etc/claudescale/config.yaml"]
