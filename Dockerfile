# syntax=docker/dockerfile:1
# omnihub container image: one image, three processes (the Procfile's web, worker, poller).
#
#   docker build -t omnihub:0.1.0 .
#   docker run --rm omnihub:0.1.0 --help            # the `omnihub` CLI is the entry point
#   docker run ... omnihub:0.1.0 web | worker | poll | db upgrade
#
# Validated statically (hadolint, tests/test_deploy.py); see docs/deployment.md.

ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------- build stage
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Every dependency ships manylinux wheels, so no compiler is needed. The project is
# installed (not editable) into its own virtual environment, which the runtime stage copies.
RUN python -m venv /opt/omnihub
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
COPY normalizers ./normalizers
COPY outbound ./outbound
COPY workers ./workers
COPY config ./config
RUN /opt/omnihub/bin/pip install . \
 && /opt/omnihub/bin/omnihub --help > /dev/null

# -------------------------------------------------------------- runtime stage
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

# A fixed, unprivileged uid/gid 10001 (Kubernetes' runAsNonRoot needs a numeric USER;
# deploy/kubernetes/ and docker-compose.yml use the same number).
RUN groupadd --system --gid 10001 omnihub \
 && useradd --system --uid 10001 --gid omnihub --home-dir /var/lib/omnihub --no-create-home --shell /usr/sbin/nologin omnihub \
 && install -d -o omnihub -g omnihub -m 0700 /var/lib/omnihub /var/lib/omnihub/attachments

COPY --from=build /opt/omnihub /opt/omnihub

ENV PATH="/opt/omnihub/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    OMNIHUB_HOST=0.0.0.0 \
    OMNIHUB_PORT=8000 \
    OMNIHUB_VAR_DIR=/var/lib/omnihub \
    OMNIHUB_ATTACHMENT_DIR=/var/lib/omnihub/attachments \
    OMNIHUB_LOG_FORMAT=json

USER 10001:10001
WORKDIR /var/lib/omnihub
VOLUME ["/var/lib/omnihub/attachments"]
EXPOSE 8000

ENTRYPOINT ["omnihub"]
CMD ["web"]
