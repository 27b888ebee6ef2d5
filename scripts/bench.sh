#!/usr/bin/env bash
# `make bench`: the benchmark suite (tests/benches/suite), one table, against its own
# DynamoDB Local, S3 server and cargo lambda watch. Builds every function in release first
# (the cold-start and 1 GiB measurements run those binaries): about 10 minutes the first
# time. UPLOADS_BENCH_ONLY=P1,P4 runs some measurements only;
# UPLOADS_BENCH_RELEASE_TARGET puts the release build in another target directory.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

ensure_tools
export_local_aws
export UPLOADS_TABLE=uploads-bench UPLOADS_S3_BUCKET=uploads-bench
RELEASE_TARGET=${UPLOADS_BENCH_RELEASE_TARGET:-${CARGO_TARGET_DIR:-$ROOT/target}}
export UPLOADS_BENCH_RELEASE_DIR="$RELEASE_TARGET/release" UPLOADS_BENCH_DIR="$LOCAL/bench"
mkdir -p "$UPLOADS_BENCH_DIR"

functions=()
for function in functions/*/; do
  functions+=(-p "$(basename "$function")")
done
log "building the functions in release (the binaries Lambda runs)"
CARGO_TARGET_DIR=$RELEASE_TARGET cargo build --release "${functions[@]}"
log "building the benchmark and the local tools"
cargo bench -p api-tests --bench suite --no-run
build_for_watch
# Optimized, so that P6 measures the copy and its hashing rather than an unoptimized
# S3 emulator (in AWS both happen inside S3).
cargo build --quiet --profile bench -p local-s3
export LOCAL_S3_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/local-s3"

# The CLI for P9 and B2, optimized as a user's would be.
cargo build --quiet --profile bench -p uploads-cli
export UPLOADS_CLI="${CARGO_TARGET_DIR:-$ROOT/target}/release/uploads"

# The worker, for the asynchronous confirmations P3 counts; the API, for the CLI. No
# ObjectCreated events: what is measured is each path on its own (P3 counts a confirmation's
# calls, which an auto-confirmation racing it would change; P5 hands auto-confirm its event).
API_PORT=$(free_port)
start_isolated_services "$API_PORT" no-events
start_watch "$API_PORT" "$RUN_DIR/watch.log" --ignore-changes
export UPLOADS_TEST_API_URL="http://127.0.0.1:$API_PORT"
log "running"
cargo bench -p api-tests --bench suite
