#!/usr/bin/env bash
# schemathesis against the API's own /openapi.json (tests/api-fuzz/schemathesis.toml): every
# operation, examples + coverage + fuzzing + stateful (the document's links), with the checks
# not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance and negative_data_rejection, seed fixed.
#
#   scripts/fuzz-api.sh                       `make fuzz-api`: its own stack, no time budget
#   scripts/fuzz-api.sh --api URL --max-time 120
#                                             `make test`: the stack it already runs
#   [--workers N]                             N concurrent schemathesis runs (default 1)
#
# Requests go straight to the API, as a client's would.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_URL=""
BUDGET=()
# Concurrent clients: each a schemathesis process of one worker, seeded apart. Not
# schemathesis' own --workers: those are threads, and under Hypothesis Python 3.11's ast
# module is not thread-safe ("SystemError: AST constructor recursion depth mismatch", a
# runtime error of the run, not an answer of the API's).
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
config="$ROOT/tests/api-fuzz/schemathesis.toml"
if [ "$WORKERS" = 1 ]; then
  cd "$ROOT/tests/api-fuzz"
  status=0
  "$FUZZ_VENV/bin/schemathesis" --config-file "$config" run "$UPLOADS_API_URL/openapi.json" \
    --workers 1 --wait-for-schema 60 "${BUDGET[@]}" --no-color || status=$?
  exit "$status"
fi
# Each in a directory of its own, where schemathesis keeps its cache.
pids=()
for worker in $(seq 1 "$WORKERS"); do
  mkdir -p "$RUN_DIR/worker-$worker"
  (cd "$RUN_DIR/worker-$worker" && "$FUZZ_VENV/bin/schemathesis" --config-file "$config" run \
    "$UPLOADS_API_URL/openapi.json" --workers 1 --seed $((20261130 + worker - 1)) --wait-for-schema 60 \
    "${BUDGET[@]}" --no-color >"$RUN_DIR/worker-$worker.out" 2>&1) &
  pids+=($!)
done
status=0
for worker in $(seq 1 "$WORKERS"); do
  wait "${pids[$((worker - 1))]}" || status=1
  printf '\n--- schemathesis worker %s (seed %s)\n' "$worker" $((20261130 + worker - 1))
  cat "$RUN_DIR/worker-$worker.out"
done
exit "$status"
