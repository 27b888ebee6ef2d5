#!/usr/bin/env bash
# schemathesis against the API's own /openapi.json (tests/api-fuzz/schemathesis.toml): every
# operation, examples + coverage + fuzzing + stateful (the document's links), with the checks
# not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance and negative_data_rejection, seed fixed.
#
#   scripts/fuzz-api.sh                       `make fuzz-api`: its own stack, no time budget
#   scripts/fuzz-api.sh --api URL --max-time 120
#                                             `make test`: the stack it already runs
#   [--workers N]                             schemathesis' workers (default 1, see below)
#
# Requests go straight to the API, as a client's would.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_URL=""
BUDGET=()
# One worker by default: under Hypothesis, Python 3.11's ast module is not thread-safe
# (runtime errors "AST constructor recursion depth mismatch" were seen with two).
WORKERS=1
while [ $# -gt 0 ]; do
  case $1 in
    --api) API_URL=$2; shift 2 ;;
    --max-time) BUDGET=(--max-time "$2"); shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done

ensure_fuzz_tools
if [ -z "$API_URL" ]; then
  start_own_stack uploads-fuzz
else
  RUN_DIR=$(mktemp -d)
  trap 'stop_started; rm -rf "$RUN_DIR"' EXIT
fi

# A tenant of its own: namespace, bucket and key, in the table the API reads.
"$BIN/uploads-admin" seed-dev --env-file "$RUN_DIR/fuzz.env" --api-url "$API_URL" >/dev/null
set -a
# shellcheck disable=SC1091
. "$RUN_DIR/fuzz.env"
set +a

export UPLOADS_API_URL=$API_URL

log "schemathesis against $UPLOADS_API_URL/openapi.json ${BUDGET[*]} (workers: $WORKERS)"
cd "$ROOT/tests/api-fuzz"
"$FUZZ_VENV/bin/schemathesis" run "$UPLOADS_API_URL/openapi.json" --workers "$WORKERS" --wait-for-schema 60 \
  "${BUDGET[@]}" --no-color
