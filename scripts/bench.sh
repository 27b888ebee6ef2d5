#!/usr/bin/env bash
# `make bench`: the List Uploads and Batch Create benchmarks against their own DynamoDB Local
# and S3 server.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

ensure_tools
export_local_aws
export UPLOADS_TABLE=uploads-bench UPLOADS_S3_BUCKET=uploads-bench
log "building the benchmark (optimized)"
cargo bench -p api-tests --bench list_first_page --bench batch_create --no-run
cargo build --quiet -p uploads-admin -p local-s3

start_isolated_services
log "running"
cargo bench -p api-tests --bench list_first_page
cargo bench -p api-tests --bench batch_create
