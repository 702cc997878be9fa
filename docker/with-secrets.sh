#!/bin/sh
# Runs a command with the S3 credentials of the topk-secrets volume (docker/init_secrets.py) in its
# environment, so they are on no command line and in no committed file: sh with-secrets.sh CMD [ARGS...]
set -eu
set -a
. /run/topk-secrets/s3.env
set +a
exec "$@"
