#!/usr/bin/env bash
# schemathesis against the API's own /openapi.json (tests/api-fuzz/schemathesis.toml): every
# operation, examples + coverage + fuzzing + stateful (the document's links), with the checks
# not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance and negative_data_rejection, seed fixed.
#
#   scripts/fuzz-api.sh                       `make fuzz-api`: its own stack, no time budget
#   scripts/fuzz-api.sh --api URL --max-time 120
#                                             `make test`: the stack it already runs
#
# Requests go through scripts/api-front.py, which hands the watch a non-UTF-8 text body as
# binary, as API Gateway would (see that file).
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_URL=""
BUDGET=()
while [ $# -gt 0 ]; do
  case $1 in
    --api) API_URL=$2; shift 2 ;;
    --max-time) BUDGET=(--max-time "$2"); shift 2 ;;
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

front_port=$(free_port)
spawn "$RUN_DIR/front.log" python3 "$ROOT/scripts/api-front.py" "$front_port" "${API_URL##*:}"
wait_for_http "http://127.0.0.1:$front_port/openapi.json" 30 || die "api-front did not start (see $RUN_DIR/front.log)"
export UPLOADS_API_URL="http://127.0.0.1:$front_port"

log "schemathesis against $UPLOADS_API_URL/openapi.json ${BUDGET[*]}"
cd "$ROOT/tests/api-fuzz"
# One worker: Python 3.11's ast module is not thread-safe under Hypothesis (runtime errors
# "AST constructor recursion depth mismatch" with two).
status=0
"$FUZZ_VENV/bin/schemathesis" run "$UPLOADS_API_URL/openapi.json" --workers 1 --wait-for-schema 60 \
  "${BUDGET[@]}" --no-color || status=$?
if [ -s "$RUN_DIR/front.log" ]; then
  # Slow or lost upstream answers and resent requests, with the time each was seen: shown
  # whether or not the run failed, since a resend can hide a stall from schemathesis.
  printf '\n--- api-front.py notes\n'
  cat "$RUN_DIR/front.log"
fi
exit "$status"
