# litmon: `litmon serve` in a container.
#
#   docker build -t litmon .                       # official python:3.12-slim base
#   docker run --read-only --tmpfs /tmp -v litmon-data:/data -v ./reports:/reports \
#       -e LITMON_NCBI_EMAIL=you@example.org litmon
#
# Only what both the official image and a plain Debian bookworm (debootstrap) image provide is
# used — `python3 -m venv`, `useradd` — so scripts/container-test.sh can build it on a machine
# that cannot pull from Docker Hub (PYTHON_IMAGE=localhost/base-python:bookworm).
ARG PYTHON_IMAGE=python:3.12-slim

# -- build: wheels for litmon and every dependency ---------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --upgrade pip wheel "setuptools>=68"
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so editing the code does not download them again.
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && /opt/build/bin/pip wheel --wheel-dir /wheels -r /tmp/requirements.txt
# .dockerignore lets in only pyproject.toml, README.md, monitor/ and feeds/.
COPY . /src
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels /src

# -- runtime: a venv installed from those wheels, no compilers, no network needed ---------------
FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY --from=build /wheels /wheels
RUN python3 -m venv /opt/litmon \
 && /opt/litmon/bin/pip install --no-index --find-links=/wheels litmon \
 && rm -rf /wheels \
 && groupadd --system --gid 10001 litmon \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin litmon \
 && mkdir -p /data /reports /app/feeds \
 && chown litmon:litmon /data /reports
COPY --chown=root:root feeds/ /app/feeds/

# Everything that writes goes to /data (database, outbox), /reports, or /tmp (a tmpfs when the
# root filesystem is read-only): HOME and the XDG/Biopython caches included, and no .pyc files.
ENV PATH=/opt/litmon/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    LITMON_DATA_DIR=/data \
    LITMON_REPORTS_DIR=/reports \
    LITMON_FEEDS_DIR=/app/feeds
VOLUME ["/data", "/reports"]
WORKDIR /app
USER 10001:10001

# The heartbeat is written by the running scheduler and `health` also asks the database.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["litmon", "health", "--quiet"]

# Exec form: litmon is PID 1 and gets SIGTERM itself; it finishes the current unit of work,
# releases its lease and exits 0. Migrations run at the start of `serve`.
STOPSIGNAL SIGTERM
CMD ["litmon", "serve"]
