#!/usr/bin/env bash
# `make slow-check` (never part of `make test`): one object over 5 GiB (5.25 GiB by default,
# UPLOADS_SLOW_CHECK_BYTES) through `uploads put` (multipart, parts in parallel) and the worker
# (parts joined, the object copied in parts since one CopyObject moves at most 5 GiB, and hashed
# by reading), on a stack of its own with S3's own sizes (5 MiB part floor, no test limits).
# Checks the SHA-256 against sha256sum's and reports the time and peak memory of the CLI and of
# the worker: neither ever holds the object. Writes about 3.5 times the object to disk.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"

SIZE=${UPLOADS_SLOW_CHECK_BYTES:-5637144576}
free_bytes=$(( $(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }') * 1024 ))
[ "$free_bytes" -gt $((SIZE * 7 / 2)) ] \
  || die "the slow check writes about $((SIZE * 7 / 2 / 1073741824)) GiB; $((free_bytes / 1073741824)) GiB free"
unset UPLOADS_MIN_PART_SIZE_BYTES LOCAL_S3_MIN_PART_SIZE UPLOADS_SINGLE_COPY_MAX_BYTES UPLOADS_WORKER_BYTES_PER_RUN
start_own_stack uploads-slow
warm POST /v1/buckets/warmup/uploads

log "a tenant whose bucket and quota take $SIZE-byte files"
admin() { "$BIN/uploads-admin" "$@"; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
tenant=$(admin create-tenant --name slow-check | field tenant_id)
namespace=$(admin create-namespace --tenant "$tenant" --name slow | field namespace_id)
admin create-bucket --namespace "$namespace" --name big --max-file-size-bytes "$SIZE" >/dev/null
admin set-quota --tenant "$tenant" --max-file-size "$SIZE" --max-bytes $((SIZE * 4)) >/dev/null
key=$(admin create-api-key --tenant "$tenant" --label slow-check | field api_key)
export UPLOADS_API_URL=$API_URL UPLOADS_API_KEY=$key UPLOADS_NAMESPACE=slow UPLOADS_BUCKET=big

file="$RUN_DIR/big.bin"
log "writing $SIZE pseudo-random bytes to $file"
head -c "$SIZE" <(openssl enc -aes-128-ctr -pass pass:slow-check -nosalt </dev/zero 2>/dev/null) >"$file"
expected=$(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)

log "uploads put --wait (parts of 64 MiB, 4 at a time)"
started=$SECONDS
/usr/bin/time -f '%M' -o "$RUN_DIR/cli.rss" "$BIN/uploads" --json put --wait --part-size 67108864 \
  --parallel 4 "$file" >"$RUN_DIR/put.json"
took=$((SECONDS - started))
python3 - "$RUN_DIR/put.json" "$expected" "$SIZE" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
upload = answer[0] if isinstance(answer, list) else answer
upload = upload.get("upload", upload)
assert upload["status"] == "COMPLETED", upload
assert upload["file_hash"] == sys.argv[2], (upload["file_hash"], sys.argv[2])
assert upload["file_size_bytes"] == int(sys.argv[3]), upload
print(f"COMPLETED, file_hash {upload['file_hash']} = sha256 of the file, etag {upload['etag']}")
PY
worker_rss=$(for pid in $(pgrep -f '/confirm-worker$' || true); do awk '/VmHWM/ { print $2 }' "/proc/$pid/status"; done | sort -n | tail -1)
cat <<REPORT
slow check: $SIZE bytes in $took s (hash, create, parts, confirm and the worker's join, copy and hash)
  uploads put peak RSS: $(cat "$RUN_DIR/cli.rss") KiB
  confirm-worker peak RSS: ${worker_rss:-unknown} KiB
REPORT
