#!/usr/bin/env bash
# Runs `make dev` as a new user would (with its own state directory and free ports), pastes
# the curl example it prints, PUTs the bytes to the returned URL as Mixpeek documents it
# (`curl -X PUT -H "Content-Type: …" --upload-file F`), sees it auto-confirmed, confirms a
# second one (created with auto_confirm false) asynchronously (the worker runs under cargo
# lambda watch), downloads the first, then presses Ctrl-C and checks that every process it
# started is gone.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

WORK=$(mktemp -d)
export UPLOADS_DEV_STATE_DIR="$WORK/state" UPLOADS_DEV_ENV_FILE="$WORK/dev.env"
UPLOADS_DEV_API_PORT=$(free_port)
UPLOADS_DEV_S3_PORT=$(free_port)
UPLOADS_DEV_DYNAMODB_PORT=$(free_port)
UPLOADS_DEV_MOTO_PORT=$(free_port)
export UPLOADS_DEV_API_PORT UPLOADS_DEV_S3_PORT UPLOADS_DEV_DYNAMODB_PORT UPLOADS_DEV_MOTO_PORT

# Under job control the background job gets its own process group and, unlike a plain
# background job of a script, does not ignore SIGINT: Ctrl-C reaches it as from a terminal.
start_dev() {
  set -m
  make dev >"$WORK/out" 2>&1 </dev/null &
  DEV_PID=$!
  set +m
}
start_dev
finish() {
  kill -INT -- "-$DEV_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap finish EXIT

fail() {
  printf '%s\n--- make dev printed:\n' "$*" >&2
  cat "$WORK/out" >&2
  exit 1
}

wait_until_ready() {
  local deadline=$((SECONDS + 600))
  until grep -q 'Press Ctrl-C to stop' "$WORK/out"; do
    kill -0 "$DEV_PID" 2>/dev/null || fail "make dev exited early"
    [ $SECONDS -lt $deadline ] || fail "make dev did not come up"
    sleep 1
  done
}
wait_until_ready

example=$(grep -m1 "^curl -s -X POST" "$WORK/out") || fail "no curl example printed"
created=$(bash -c "$example")
read -r upload_id presigned_url status < <(python3 -c '
import json, sys
u = json.loads(sys.argv[1])
print(u["upload_id"], u["presigned_url"], u["status"])' "$created") || fail "the curl example did not create an upload: $created"
[ "$status" = PENDING ] || fail "unexpected status $status"

printf 'hello\n' >"$WORK/hello.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$presigned_url" -H 'Content-Type: text/plain' --upload-file "$WORK/hello.txt")
[ "$code" = 200 ] || fail "PUT to the presigned URL answered $code"

# shellcheck disable=SC1090
. "$UPLOADS_DEV_ENV_FILE"

# Auto-confirm, as in AWS: local-s3 hands S3's ObjectCreated event to auto-confirm, so
# the upload completes without a confirmation.
auth=(-H "Authorization: Bearer $UPLOADS_API_KEY" -H "X-Namespace: $UPLOADS_NAMESPACE")
uploads="$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads"
for _ in $(seq 1 100); do
  status=$(curl -s "${auth[@]}" "$uploads/$upload_id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = COMPLETED ] && break
  sleep 0.1
done
[ "$status" = COMPLETED ] || fail "the PUT upload was not auto-confirmed within 10 s: $status"
echo "make dev: the PUT upload was auto-confirmed"

# The asynchronous path, with the real worker, for an upload that waits for its
# confirmation: PROCESSING at once, then COMPLETED.
waiting=$(curl -s -X POST "${auth[@]}" "$uploads" -H 'Content-Type: application/json' \
  -d '{"filename": "later.txt", "content_type": "text/plain", "auto_confirm": false}')
read -r later_id later_url < <(python3 -c 'import json, sys; u = json.loads(sys.argv[1]); print(u["upload_id"], u["presigned_url"])' "$waiting") \
  || fail "create with auto_confirm false answered: $waiting"
printf 'later\n' >"$WORK/later.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$later_url" -H 'Content-Type: text/plain' --upload-file "$WORK/later.txt")
[ "$code" = 200 ] || fail "PUT to the second presigned URL answered $code"
accepted=$(curl -s -X POST "${auth[@]}" "$uploads/$later_id/confirm?async=true")
read -r status task_id < <(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print(r["status"], r["task_id"])' "$accepted") \
  || fail "async confirm answered: $accepted"
[ "$status" = PROCESSING ] || fail "async confirm answered $status"
for _ in $(seq 1 150); do
  task_status=$(curl -s "${auth[@]}" "$UPLOADS_API_URL/v1/tasks/$task_id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  [ "$task_status" = COMPLETED ] && break
  sleep 0.2
done
[ "$task_status" = COMPLETED ] || fail "task $task_id ended $task_status"
fetched=$(curl -s "$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads/$upload_id?return_presigned_urls=true" "${auth[@]}")
download=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["presigned_url"] or "")' "$fetched")
[ "$(curl -s "$download")" = hello ] || fail "the download URL did not return the bytes: $fetched"

# README's "Upload a file" with the CLI, run as written, but with this run's env file, its
# work directory for hello.txt and the build's target directory. The bytes are the ones
# uploaded above, so the CLI finds them held and sends nothing.
snippet=$(python3 -c '
import sys
section = open(sys.argv[1]).read().split("## Upload a file", 1)[1]
print(section.split("```sh\n", 1)[1].split("```", 1)[0])' "$ROOT/README.md")
snippet=${snippet//.local\/dev.env/$UPLOADS_DEV_ENV_FILE}
snippet=${snippet//hello.txt/$WORK/hello.txt}
snippet=${snippet//target\/debug\//$BIN/}
cli_out=$(bash -euo pipefail -c "$snippet" 2>&1) || fail "README's CLI example failed: $cli_out"
grep -q "COMPLETED sha256:$(sha256sum "$WORK/hello.txt" | cut -d' ' -f1) (the bucket already holds these bytes" <<<"$cli_out" \
  || fail "README's CLI example printed: $cli_out"
grep -q "^$upload_id " <<<"$cli_out" || fail "uploads list did not show the upload: $cli_out"
echo "make dev: README's CLI example ran"

# What a developer does beside a running make dev must not restart its functions (each
# restart killed every function; .cargolambdaignore): git, and writes under .local/ and target/.
# (git writes its index through a lock file, index.lock, on status, add and commit.)
touched=("$ROOT/.git/dev-smoke.lock" "$ROOT/.local/dev-smoke-touch" "${CARGO_TARGET_DIR:-$ROOT/target}/dev-smoke-touch")
touch "${touched[@]}"
git -C "$ROOT" status --short >/dev/null
sleep 3
rm -f "${touched[@]}"
if grep -q "command killed" "$WORK/state/watch.log"; then
  fail "the watch restarted functions for changes outside the code: $(grep -m3 'command killed' "$WORK/state/watch.log")"
fi

# make dev runs the deployed SDK timeouts: a DynamoDB that stops answering (its process
# paused) costs a request seconds and a 503 in the envelope, not a hang.
dynamodb_pid=$(pgrep -f "java.*$WORK/state/dynamodb" | head -n 1) || fail "DynamoDB Local's process not found"
kill -STOP "$dynamodb_pid"
started=$(date +%s.%N)
hung=$(curl -s --max-time 30 -w '\n%{http_code}' "${auth[@]}" "$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads/$upload_id")
took=$(python3 -c "import time; print(round(time.time() - $started, 1))")
kill -CONT "$dynamodb_pid"
code=${hung##*$'\n'}
[ "$code" = 503 ] || fail "with DynamoDB paused, GET answered $code after $took s: $hung"
python3 -c 'import json, sys; e = json.loads(sys.argv[1]); assert e["status"] == 503 and e["error"]["type"] == "ServiceUnavailableError", e' "${hung%$'\n'*}" \
  || fail "with DynamoDB paused, the 503 is not in the envelope: $hung"
python3 -c "import sys; sys.exit(0 if $took < 10 else 1)" || fail "with DynamoDB paused, the 503 took $took s (10 s at most)"
echo "make dev: with DynamoDB paused, GET answered 503 in $took s"

# Ctrl-C, then nothing of it may be left: no port answering, no process.
press_ctrl_c() {
  kill -INT -- "-$DEV_PID"
  for _ in $(seq 1 50); do
    kill -0 "$DEV_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$DEV_PID" 2>/dev/null && fail "make dev did not stop on Ctrl-C"
  sleep 1
  for port in "$UPLOADS_DEV_API_PORT" "$UPLOADS_DEV_S3_PORT" "$UPLOADS_DEV_DYNAMODB_PORT" "$UPLOADS_DEV_MOTO_PORT"; do
    if curl -s -o /dev/null "http://127.0.0.1:$port"; then fail "port $port still answers after Ctrl-C"; fi
  done
  if pgrep -f "$WORK/state" >/dev/null; then fail "processes of make dev survived Ctrl-C: $(pgrep -af "$WORK/state")"; fi
}
press_ctrl_c

# Running it again reuses what exists: the same key, and the upload and its bytes are still there.
first_key=$UPLOADS_API_KEY
start_dev
wait_until_ready
# shellcheck disable=SC1090
. "$UPLOADS_DEV_ENV_FILE"
[ "$UPLOADS_API_KEY" = "$first_key" ] || fail "the second make dev made a new API key instead of reusing the first"
again=$(curl -s "$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads/$upload_id?return_presigned_urls=true" "${auth[@]}")
read -r status download < <(python3 -c 'import json, sys; u = json.loads(sys.argv[1]); print(u["status"], u["presigned_url"])' "$again") \
  || fail "the upload is gone after a restart: $again"
[ "$status" = COMPLETED ] || fail "after a restart the upload is $status"
[ "$(curl -s "$download")" = hello ] || fail "after a restart the bytes are gone"
press_ctrl_c
echo "make dev: served the API, the printed curl example worked, the PUT upload was auto-confirmed, async confirmation completed, README's CLI example ran, a paused DynamoDB answered 503 within 10 s, Ctrl-C stopped everything, a second run reused the state"
