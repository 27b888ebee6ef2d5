#!/usr/bin/env bash
# `make dev`: runs the whole API locally on 127.0.0.1 against DynamoDB Local and the local
# S3 server, with a seeded dev namespace, bucket and API key (written to .local/dev.env).
# State lives in .local/dev and is reused by the next run. Ctrl-C stops everything.
#
# Ports: UPLOADS_DEV_API_PORT (9000), UPLOADS_DEV_S3_PORT (9001), UPLOADS_DEV_DYNAMODB_PORT (9002),
# UPLOADS_DEV_MOTO_PORT (9003: IAM, Secrets Manager and the confirmation state machine),
# UPLOADS_DEV_PAGE_PORT (9004: the browser upload page, docs/browser.md; a free port if taken).
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

API_PORT=${UPLOADS_DEV_API_PORT:-9000}
S3_PORT=${UPLOADS_DEV_S3_PORT:-9001}
DYNAMODB_PORT=${UPLOADS_DEV_DYNAMODB_PORT:-9002}
MOTO_PORT=${UPLOADS_DEV_MOTO_PORT:-9003}
STATE=${UPLOADS_DEV_STATE_DIR:-$LOCAL/dev}
ENV_FILE=${UPLOADS_DEV_ENV_FILE:-$LOCAL/dev.env}
API_URL="http://127.0.0.1:$API_PORT"

for port in "$API_PORT" "$S3_PORT" "$DYNAMODB_PORT" "$MOTO_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port"; then
    die "port $port is in use (another 'make dev'?); choose others with UPLOADS_DEV_API_PORT, UPLOADS_DEV_S3_PORT, UPLOADS_DEV_DYNAMODB_PORT, UPLOADS_DEV_MOTO_PORT"
  fi
done

ensure_tools
ensure_upload_page
export_local_aws
log "building"
cargo build --workspace --bins

trap stop_started EXIT
trap 'exit 130' INT TERM
mkdir -p "$STATE"
log "starting DynamoDB Local on :$DYNAMODB_PORT, local-s3 on :$S3_PORT and moto on :$MOTO_PORT"
# local-s3 accepts the signing identity's keys, the current one and those of earlier runs
# (moto forgets the identity when it stops; URLs signed before keep working).
export LOCAL_S3_KEYS_FILE="$STATE/s3-keys"
start_dynamodb "$DYNAMODB_PORT" "$STATE/dynamodb" "$STATE/dynamodb.log"
start_s3 "$S3_PORT" "$STATE/s3" "$STATE/s3.log" "$API_PORT"
start_moto "$MOTO_PORT" "$STATE/moto.log" "$API_PORT"
install_signing_identity
"$BIN/uploads-admin" seed-dev --env-file "$ENV_FILE" --api-url "$API_URL" >/dev/null
log "starting cargo lambda watch on :$API_PORT (reloads on code changes)"
start_watch "$API_PORT" "$STATE/watch.log"

# shellcheck disable=SC1090
. "$ENV_FILE"
# The browser upload page (tools/upload-page), with the dev bucket, namespace and key.
PAGE_PORT=${UPLOADS_DEV_PAGE_PORT:-9004}
if curl -s -o /dev/null "http://127.0.0.1:$PAGE_PORT"; then PAGE_PORT=0; fi
start_upload_page "$PAGE_PORT" "$UPLOADS_API_URL" "$STATE/upload-page.log"
cat <<MSG

The API is running at $UPLOADS_API_URL  (logs: $STATE/*.log)
Upload files from a browser (Uppy): $UPLOAD_PAGE_URL
Credentials ($ENV_FILE):

$(cat "$ENV_FILE")

Create an upload:

curl -s -X POST '$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads' -H 'Authorization: Bearer $UPLOADS_API_KEY' -H 'X-Namespace: $UPLOADS_NAMESPACE' -H 'Content-Type: application/json' -d '{"filename": "hello.txt", "content_type": "text/plain", "file_size_bytes": 6}'

Then PUT the bytes to the returned presigned_url, as Mixpeek documents it:

printf 'hello\n' > hello.txt && curl -s -X PUT '<presigned_url>' -H 'Content-Type: text/plain' --upload-file hello.txt

confirm it:

curl -s -X POST '$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads/<upload_id>/confirm' -H 'Authorization: Bearer $UPLOADS_API_KEY' -H 'X-Namespace: $UPLOADS_NAMESPACE'

and read it back:

curl -s '$UPLOADS_API_URL/v1/buckets/$UPLOADS_BUCKET/uploads/<upload_id>?return_presigned_urls=true' -H 'Authorization: Bearer $UPLOADS_API_KEY' -H 'X-Namespace: $UPLOADS_NAMESPACE'

Press Ctrl-C to stop.
MSG
wait
