# Outreach: one image for every service (contacts, visits, coaching, notifications) in every
# role (OUTREACH_PROCESS_ROLE=all|api|worker), for the jobs (python -m contacts.retention run,
# python -m shared.chain verify <service>) and for the staff web app (python -m uvicorn
# outreach_web.app:create_app --factory --host 0.0.0.0 --port 8080). Build from the repository
# root:
#
#   docker build -t outreach .
#   docker run --rm -e OUTREACH_PROCESS_ROLE=api outreach contacts
#
# What `<image> <service>` starts is deploy/container/entrypoint.sh; deploy/README.md is the
# deployment guide.
#
# The base image is pinned by digest, so a build months from now starts from the same bytes.
# The digest is that of the multi-arch index of the tag in the comment; the tag moves when
# Debian or Python publish fixes. To move to the current one (where a Docker engine runs):
#   docker buildx imagetools inspect python:3.11-slim-trixie   # prints "Digest: sha256:..."
# and replace the digest below (`make image-digest` prints that command). A bot that keeps
# digests current (Renovate's or Dependabot's docker manager) reads exactly this ARG line.
# Python 3.11: the version the project pins (pyproject.toml, requires-python).
ARG PYTHON_IMAGE=python:3.11-slim-trixie@sha256:9534e5a8e315485d4061ed659af0fd78a284c015f9b73661b41d6bab25604534

# --- dependencies: the runtime packages of pyproject.toml, at the versions of requirements.lock
FROM ${PYTHON_IMAGE} AS dependencies
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY pyproject.toml requirements.lock ./
# Only [project] dependencies (no dev, no bench extras), each constrained to its locked version.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > runtime.txt \
    && python -m venv /opt/outreach \
    && /opt/outreach/bin/pip install --no-compile -c requirements.lock -r runtime.txt \
    && /opt/outreach/bin/python -m compileall -q -j 0 /opt/outreach/lib

# --- the code, compiled once, owned by root (read-only to the process)
FROM ${PYTHON_IMAGE} AS code
WORKDIR /app
COPY shared ./shared
COPY services ./services
# The staff web app: Python, templates and its static files as they are (no build step; its
# npm package, axe-core, is for the browser tests only).
COPY web/outreach_web ./web/outreach_web
RUN find . -name '__pycache__' -prune -exec rm -rf {} + \
    && python -m compileall -q -j 0 shared services web

# --- the image that runs: no compilers, no pip cache, a user of its own
FROM ${PYTHON_IMAGE} AS service
RUN groupadd --system --gid 10001 outreach \
    && useradd --system --uid 10001 --gid outreach --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin outreach
COPY --from=dependencies /opt/outreach /opt/outreach
COPY --from=code /app /app
COPY deploy/container/entrypoint.sh /usr/local/bin/outreach-entrypoint
# PYTHONPATH: the package roots of pyproject.toml ([tool.setuptools.packages.find] where),
# so the notifications templates are found next to the code, as in a checkout.
ENV PATH=/opt/outreach/bin:$PATH \
    PYTHONPATH=/app:/app/services/contacts:/app/services/visits:/app/services/coaching:/app/services/notifications:/app/web \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OUTREACH_HTTP_HOST=0.0.0.0 \
    OUTREACH_HTTP_PORT=8080
WORKDIR /app
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['OUTREACH_HTTP_PORT'], timeout=2)"]
ENTRYPOINT ["/usr/local/bin/outreach-entrypoint"]
CMD ["--help"]
