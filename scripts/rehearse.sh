#!/usr/bin/env bash
# `make rehearse`: template.yaml deployed on MiniStack (CloudFormation with the SAM
# transform, API Gateway, Lambda, Step Functions, IAM, Secrets Manager, DynamoDB, S3) and
# driven end to end, twice: without IAM enforcement (noauth) and with it (auth, where every
# function runs with its role's policies). In each mode: start MiniStack, deploy
# (tools/rehearse), seed a tenant with uploads-admin, run Mixpeek's SDK tests (tests/sdk)
# and the end-to-end Rust tests listed below through the deployed HttpApi, then the
# rehearsal's own tests (tests/rehearsal: the state machine executed, the policies
# evaluated, the signing key rotated); stop MiniStack. Prints a summary per mode, the
# functions' logs of a failed mode, and exits non-zero if anything failed.
# docs/rehearsal.md says what is rehearsed, what is changed for the emulator, and why.
#
#   scripts/rehearse.sh [noauth|auth]…     (default: both)
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(noauth auth)
for mode in "${MODES[@]}"; do
  case $mode in noauth | auth) ;; *) die "unknown mode $mode (noauth, auth)" ;; esac
done

# The end-to-end tests (tests/tests) that reach the stack only through the API, the table,
# the bucket and the services' own APIs. Left out, as needing the local stack's internals
# rather than a deployed one: api_gateway_events, backend_calls, hung_dependency,
# signing_credentials and store (in-process, no deployed function involved), faults (a
# fault proxy between the watch and the local services), local_s3 (the local S3 server
# itself), unavailable (a second watch whose S3 is down), contract_files (static files,
# no stack), upload_events (hands stream records to the publisher at the watch's Lambda
# endpoint and reads moto's bus; tests/rehearsal/test_events.py drives the deployed one). list_oracle asks the API some 1 500 questions (75 s on MiniStack, twice):
# over this command's time budget; list.rs and list_read_cap.rs cover the deployed List.
RUST_TESTS=(
  async_confirm auth_and_tenancy batch_uploads batches confirm counters create_and_get
  declared_bytes delete directory expiry idempotency list list_read_cap openapi presigned_put quotas
  rate_limits routing signing_identity validation
)
# Tests of those files that cannot run against a deployed stack, each with why.
RUST_SKIPS=(
  # Invokes the worker at cargo lambda watch's Lambda endpoint under the API's URL, which
  # the HttpApi does not have; tests/rehearsal/test_state_machine.py sends the unknown-task
  # event through Step Functions instead.
  a_malformed_worker_event_fails_at_once_as_final
  # Reads the worker process's peak memory under cargo lambda watch; also 150 MiB through
  # MiniStack's in-memory S3.
  a_150_mb_object_is_confirmed_asynchronously_with_bounded_memory
  # Waits out the functions' directory TTL, which make test sets to 2 s; the template's is
  # 60 s.
  a_key_revoked_with_the_admin_cli_stops_working_within_the_ttl
  # These three hand stream records to expired-uploads at the watch's Lambda endpoint.
  # MiniStack gap: its TTL removals write no stream record, so the deployed event source
  # mapping cannot be driven either (docs/rehearsal.md).
  a_ttl_removal_deletes_the_bytes_and_uncounts_the_upload_once
  removals_that_are_not_ttl_expiries_of_uploads_are_ignored
  a_record_that_cannot_be_processed_is_reported_and_stops_the_batch
  # Drives the rotation in-process against moto and tells local-s3 the keys
  # (LOCAL_S3_KEYS_FILE); tests/rehearsal/test_signing_rotation.py rotates with the
  # deployed function instead.
  rotation_keeps_old_urls_valid_until_they_expire_and_deletes_old_keys_only_when_safe
  # In-process (three directories against the table, no deployed function), and its twelve
  # requests must fall within one wall-clock second: MiniStack's DynamoDB round trips on
  # this 2-core machine, under load, do not always fit ("the requests spanned windows").
  a_key_spread_over_containers_gets_about_its_allowance_in_all
  # MiniStack gap: its HttpApi answers every OPTIONS request itself, 403 "CORS not
  # configured" when the API has no CORS configuration (services/apigateway.py ~1366),
  # where API Gateway hands it to the routes, here the $default route.
  options_is_routed_like_any_method
)
# Without AUTH only. MiniStack gap: with AUTH=false its S3 serves unsigned requests, so
# the unsigned PUT of this test is accepted (with AUTH=true it is refused, as in AWS).
RUST_SKIPS_NOAUTH=(a_tampered_or_missing_signature_is_refused)

# Step Functions' Retry waits are real sleeps in MiniStack: at 1/20 of the template's
# intervals, Confirm's six retries wait about 6 s in all instead of two minutes.
SFN_WAIT_SCALE=0.05

RUN_ROOT="$LOCAL/rehearsal"
REHEARSAL_VENV="$LOCAL/rehearsal-venv"
PY="$REHEARSAL_VENV/bin/python"

ensure_tools
ensure_venv "$REHEARSAL_VENV" "$ROOT/tests/rehearsal/requirements.txt"

log "building the functions, the admin CLI and the end-to-end tests"
build_started=$SECONDS
# Both with --workspace, as make test builds: `-p api-tests` would resolve features for that
# package alone, and compile the whole dependency tree a third time (minutes, gigabytes).
cargo build --workspace --bins
test_targets=()
for t in "${RUST_TESTS[@]}"; do test_targets+=(--test "$t"); done
cargo test --workspace --no-run "${test_targets[@]}"
log "built in $((SECONDS - build_started)) s"

now_ms() { date +%s%3N; }

# The MiniStack of the mode being run, stopped whatever happens.
CURRENT_RUN_DIR=
stop_current() {
  if [ -n "$CURRENT_RUN_DIR" ]; then
    "$PY" tools/rehearse stop "$CURRENT_RUN_DIR" || true
    # The functions' extracted code (hundreds of MB); the logs stay for a look afterwards.
    rm -rf "$CURRENT_RUN_DIR/tmp"
    CURRENT_RUN_DIR=
  fi
}
trap stop_current EXIT
trap 'exit 130' INT TERM

declare -A SUMMARY FAILED_STEPS MODE_SECONDS

# step MODE NAME CMD…: runs CMD, timed, and records its outcome.
step() {
  local mode=$1 name=$2 started=$SECONDS status=ok
  shift 2
  log "[$mode] $name"
  "$@" || status=FAILED
  SUMMARY[$mode]+="  $(printf '%-7s %4d s  %s' "$status" $((SECONDS - started)) "$name")"$'\n'
  if [ $status != ok ]; then
    FAILED_STEPS[$mode]+="$name; "
    return 1
  fi
}

# seed: a tenant with a namespace, a bucket and an API key in the deployed table, and one
# request with that key through the deployed API (RUN_DIR/tenant.env keeps them).
seed() {
  local dir=$1 admin="$BIN/uploads-admin" tenant namespace bucket key status
  tenant=$("$admin" create-tenant --name rehearsal | json_field tenant_id) || return 1
  namespace=$("$admin" create-namespace --tenant "$tenant" --name media | json_field namespace_id) || return 1
  bucket=$("$admin" create-bucket --namespace "$namespace" --name photos | json_field name) || return 1
  key=$("$admin" create-api-key --tenant "$tenant" | json_field api_key) || return 1
  printf 'UPLOADS_API_URL=%s\nUPLOADS_API_KEY=%s\nUPLOADS_NAMESPACE=media\nUPLOADS_BUCKET=%s\n' \
    "$UPLOADS_TEST_API_URL" "$key" "$bucket" >"$dir/tenant.env"
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" -H "X-Namespace: media" \
    "$UPLOADS_TEST_API_URL/v1/usage")
  [ "$status" = 200 ] || { echo "GET /v1/usage with the seeded key answered $status" >&2; return 1; }
}

json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

rust_tests() {
  local mode=$1 skips=()
  for name in "${RUST_SKIPS[@]}"; do skips+=(--skip "$name"); done
  if [ "$mode" = noauth ]; then
    for name in "${RUST_SKIPS_NOAUTH[@]}"; do skips+=(--skip "$name"); done
  fi
  cargo test -q --workspace --no-fail-fast "${test_targets[@]}" -- "${skips[@]}"
}

rehearsal_tests() {
  local mode=$1 select=()
  # The policy tests need IAM enforcement; without AUTH they would pass or fail by chance.
  [ "$mode" = auth ] || select=(-m "not auth")
  "$PY" -m pytest -q -p no:cacheprovider tests/rehearsal "${select[@]}"
}

# with_stack_env DIR CMD…: CMD with the deployed stack's environment (DIR/stack.env, which
# tools/rehearse deploy wrote) and nothing of the local stack's.
with_stack_env() {
  local dir=$1
  shift
  (
    unset AWS_SESSION_TOKEN AWS_PROFILE UPLOADS_S3_FORCE_PATH_STYLE AWS_ENDPOINT_URL_DYNAMODB \
      AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_SECRETS_MANAGER AWS_ENDPOINT_URL_SFN AWS_ENDPOINT_URL_LAMBDA \
      AWS_ENDPOINT_URL_EVENTBRIDGE AWS_ENDPOINT_URL_SQS
    set -a
    # shellcheck source=/dev/null
    . "$dir/stack.env"
    set +a
    # The functions' S3 endpoint is MiniStack's; presigned_put.rs checks the URLs by it.
    export AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL UPLOADS_ADMIN="$BIN/uploads-admin"
    "$@"
  )
}

run_mode() {
  local mode=$1 dir="$RUN_ROOT/$1" auth=() started=$SECONDS since_ms
  rm -rf "$dir"
  mkdir -p "$dir"
  CURRENT_RUN_DIR=$dir
  [ "$mode" = auth ] && auth=(--auth)
  since_ms=$(now_ms)
  if step "$mode" "start MiniStack" "$PY" tools/rehearse start "$dir" "${auth[@]}" --sfn-wait-scale "$SFN_WAIT_SCALE" &&
    step "$mode" "deploy template.yaml" "$PY" tools/rehearse deploy "$dir" --template "$ROOT/template.yaml" --bin-dir "$BIN" &&
    step "$mode" "seed a tenant (uploads-admin), call the API with its key" with_stack_env "$dir" seed "$dir"; then
    step "$mode" "Mixpeek's SDK tests (tests/sdk)" \
      with_stack_env "$dir" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk || true
    step "$mode" "end-to-end tests (cargo test, tests/tests)" with_stack_env "$dir" rust_tests "$mode" || true
    step "$mode" "rehearsal tests (tests/rehearsal)" with_stack_env "$dir" rehearsal_tests "$mode" || true
  fi
  if [ -n "${FAILED_STEPS[$mode]:-}" ]; then
    if [ -f "$dir/stack.json" ]; then
      log "[$mode] the functions' logs (CloudWatch Logs), trouble only"
      "$PY" tools/rehearse logs "$dir" --since-ms "$since_ms" || true
    fi
    log "[$mode] MiniStack's log, errors"
    grep -n -E "ERROR|Traceback|Exception" "$dir/ministack.log" | tail -n 30 || true
  fi
  stop_current
  MODE_SECONDS[$mode]=$((SECONDS - started))
}

rehearsal_started=$SECONDS
for mode in "${MODES[@]}"; do
  run_mode "$mode"
done

printf '\n'
log "make rehearse: summary (MiniStack logs and function logs of each mode in ${RUN_ROOT#"$ROOT"/}/<mode>/)"
failed=0
for mode in "${MODES[@]}"; do
  printf '%s (%d s)\n%s' "$mode" "${MODE_SECONDS[$mode]}" "${SUMMARY[$mode]:-}"
  [ -z "${FAILED_STEPS[$mode]:-}" ] || failed=1
done
printf '%s: %d s after the build\n' "${MODES[*]}" $((SECONDS - rehearsal_started))
[ $failed = 0 ] || die "failed: $(for m in "${MODES[@]}"; do [ -z "${FAILED_STEPS[$m]:-}" ] || printf '%s: %s' "$m" "${FAILED_STEPS[$m]}"; done)"
log "the rehearsal passed"
