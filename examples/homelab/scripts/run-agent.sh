#!/bin/sh
# Starts the monitoring agent by hand on hosts without Compose.
set -eu
docker run -d --name node-agent \
  --privileged \
  -v /var/run/docker.sock:/var/run/docker.sock:ro \
  example/node-agent:1.4
