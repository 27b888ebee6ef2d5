#!/usr/bin/env bash
# `make load`: tests/src/bin/load.rs against a stack of its own on 127.0.0.1 — 50 concurrent
# clients for 60 s by default (LOAD_CLIENTS, LOAD_SECONDS), mixed create / PUT / confirm /
# get / list / delete through cargo lambda watch; then the end-state checks. Stops by itself.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

start_own_stack uploads-load
export UPLOADS_TEST_API_URL=$API_URL
# The first request to each function starts its process; not part of the measurement.
for request in "POST /v1/buckets/warmup/uploads" "POST /v1/buckets/warmup/uploads/list" \
  "GET /v1/buckets/warmup/uploads/upl_00000000000000000000000000" \
  "DELETE /v1/buckets/warmup/uploads/upl_00000000000000000000000000" \
  "POST /v1/buckets/warmup/uploads/upl_00000000000000000000000000/confirm"; do
  warm "${request% *}" "${request#* }"
done
log "load: ${LOAD_CLIENTS:-50} clients for ${LOAD_SECONDS:-60} s"
"$BIN/load" --clients "${LOAD_CLIENTS:-50}" --seconds "${LOAD_SECONDS:-60}"
