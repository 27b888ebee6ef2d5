#!/usr/bin/env bash
# `make test`: the whole suite on a fresh machine. Installs what is missing, starts its
# own isolated services (free ports, temporary directories, in-memory DynamoDB Local),
# runs unit, integration and end-to-end tests (Mixpeek's Python SDK among them), deploys
# template.yaml on MiniStack and runs them against it (scripts/rehearse.sh), lints the
# template, checks `make dev`,
# stops everything, and exits non-zero on any failure.
#
# With arguments, runs only `cargo test ARGS…` against fresh services, e.g.
#   scripts/test.sh --test confirm
# and `scripts/test.sh --sdk [PYTEST ARGS…]` only Mixpeek's SDK tests, `scripts/test.sh --browser`
# only the upload page's browser test.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

# A cold run of .ci/run needs about 8.5 GB at its peak (target/ 5.6 GB, .local 1.6 GB;
# more with incremental caches, as in a working tree): say so up front rather than let pip,
# cargo or MiniStack fail half-way with "No space left on device".
free_gb=$(df -Pk "$ROOT" | awk 'NR == 2 { print int($4 / 1048576) }')
[ "$free_gb" -ge 10 ] || log "warning: only $free_gb GB free on $ROOT's disk; a cold run needs about 9 GB"
ensure_tools
# The upload page's test (tests/browser): Uppy and puppeteer-core, and Debian's Chromium.
ensure_upload_page
ensure_chromium
export_local_aws
export UPLOADS_TABLE=uploads-test UPLOADS_S3_BUCKET=uploads-test
# Short enough for a test to watch a revoked key stop working; long enough that requests
# in a test meet cached answers.
export UPLOADS_DIRECTORY_TTL_SECS=2
export UPLOADS_ADMIN="$BIN/uploads-admin" UPLOADS_CLI="$BIN/uploads"
# Test-only sizes (docs/testing.md): parts of 1 MiB (S3's floor is 5 MiB), and staged objects
# over 16 MiB moved and hashed by the worker 16 MiB a run, so that test objects of a few MiB
# take the paths (multipart copy, the hash carried across runs) of terabyte ones.
export LOCAL_S3_MIN_PART_SIZE=1048576 UPLOADS_MIN_PART_SIZE_BYTES=1048576
export UPLOADS_SINGLE_COPY_MAX_BYTES=16777216 UPLOADS_WORKER_BYTES_PER_RUN=16777216

log "building the workspace and its tests"
cargo build --workspace --all-targets
build_for_watch

log "starting DynamoDB Local, local-s3, moto and cargo lambda watch"
API_PORT=$(free_port)
start_isolated_services "$API_PORT"
start_watch "$API_PORT" "$RUN_DIR/watch.log" --ignore-changes
export UPLOADS_TEST_API_URL="http://127.0.0.1:$API_PORT"
# A second API on the same table whose functions cannot reach S3 (a closed port), so tests
# can see how S3 trouble reaches a client. The environment is put back for everything else.
# Its asynchronous confirmations run on the one state machine, whose worker is the first API's.
S3_DOWN_PORT=$(free_port)
LIVE_S3=$AWS_ENDPOINT_URL_S3
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$(free_port)"
start_watch "$S3_DOWN_PORT" "$RUN_DIR/watch-s3-down.log" --ignore-changes
export AWS_ENDPOINT_URL_S3=$LIVE_S3
export UPLOADS_TEST_S3_DOWN_API_URL="http://127.0.0.1:$S3_DOWN_PORT"
API_URL=$UPLOADS_TEST_API_URL
upload=/v1/buckets/warmup/uploads/upl_00000000000000000000000000
for request in "POST /v1/buckets/warmup/uploads" "GET $upload" "POST $upload/confirm" \
  "DELETE $upload" "POST /v1/buckets/warmup/uploads/list" "GET /v1/tasks/warmup" "GET /v1/usage"; do
  warm "${request% *}" "${request#* }"
done

# The Rust tests' scratch files (std::env::temp_dir(); the CLI tests write files of up to
# 100 MiB) go in the run's directory, which goes away on exit, not in /tmp for good.
TEST_TMPDIR="$RUN_DIR/tmp"
mkdir -p "$TEST_TMPDIR"

if [ "${1:-}" = "--sdk" ]; then
  shift
  log "Mixpeek's Python SDK against the local stack (tests/sdk) $*"
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk "$@"
  exit
fi
if [ "${1:-}" = "--browser" ]; then
  log "the upload page (Uppy) in headless Chromium (tests/browser)"
  node tests/browser/upload.test.mjs
  exit
fi
if [ $# -gt 0 ]; then
  log "cargo test $*"
  TMPDIR=$TEST_TMPDIR cargo test "$@"
  exit
fi

failed=()
log "cargo test"
# Bounded (it takes about 3 minutes on 2 cores when it passes), so that a stack that stops
# answering fails the run with its logs below rather than running into CI's time limit.
TMPDIR=$TEST_TMPDIR timeout --kill-after=30 2100 cargo test --workspace --no-fail-fast \
  || failed+=("cargo test")
log "Mixpeek's Python SDK against the local stack (tests/sdk)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk \
  || failed+=("Mixpeek SDK compatibility test")
log "the upload page (Uppy) in headless Chromium (tests/browser)"
node tests/browser/upload.test.mjs || failed+=("browser upload test")
log "schemathesis against /openapi.json, two minutes (tests/api-fuzz)"
scripts/fuzz-api.sh --api "$UPLOADS_TEST_API_URL" --max-time 120 || failed+=("schemathesis")
log "template.yaml deployed on MiniStack and driven through its HttpApi (make rehearse)"
scripts/rehearse.sh || failed+=("rehearsal on MiniStack")
log "cfn-lint template.yaml and sam validate --lint"
cfn-lint template.yaml || failed+=("cfn-lint")
sam validate --lint --region us-east-1 || failed+=("sam validate --lint")
log "make dev, tried as a new user would"
scripts/dev-smoke.sh || failed+=("make dev smoke test")

if [ ${#failed[@]} -gt 0 ]; then
  for log_file in "$RUN_DIR"/*.log; do
    printf '\n--- errors in %s\n' "$log_file"
    grep -n -i -E "panic|error|fail|overflow|elapsed_ms=[0-9]{5,}|slow backend call" "$log_file" | grep -v -E "s3s::ops|request rejected" | tail -n 40 || true
    printf '\n--- last lines of %s\n' "$log_file"
    tail -n 20 "$log_file"
  done
  die "failed: ${failed[*]}"
fi
log "all checks passed"
