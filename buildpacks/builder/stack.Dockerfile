# Build and run images (a CNB "stack") for a hera-build builder, on any base image that has python3 with venv.
#
#   docker build -f stack.Dockerfile --target build -t hera-build/stack-build:3.12 .
#   docker build -f stack.Dockerfile --target run   -t hera-build/stack-run:3.12 .
#
# Both images come from the same base, so the python that the hera-runner buildpack builds its venv with at
# build time is at the same path at run time (a venv points at its interpreter by absolute path).
# The build image runs the lifecycle as the CNB user given by CNB_USER_ID/CNB_GROUP_ID; the run image runs the
# app as that user too.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS base
ARG CNB_USER_ID=1000
ARG CNB_GROUP_ID=1000
USER root
# Plain /etc/passwd lines instead of useradd: works on every base (slim, distroless-like, debootstrap minbase).
RUN set -eu; \
    grep -q "^cnb:" /etc/group || echo "cnb:x:${CNB_GROUP_ID}:" >> /etc/group; \
    grep -q "^cnb:" /etc/passwd || echo "cnb:x:${CNB_USER_ID}:${CNB_GROUP_ID}:CNB user:/home/cnb:/bin/sh" >> /etc/passwd; \
    mkdir -p /home/cnb; chown "${CNB_USER_ID}:${CNB_GROUP_ID}" /home/cnb; \
    command -v python3; python3 -c "import venv, ensurepip"
ENV PATH=${PATH} \
    CNB_USER_ID=${CNB_USER_ID} \
    CNB_GROUP_ID=${CNB_GROUP_ID}

FROM base AS run
USER ${CNB_USER_ID}:${CNB_GROUP_ID}

FROM base AS build
USER ${CNB_USER_ID}:${CNB_GROUP_ID}
