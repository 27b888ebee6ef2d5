#!/usr/bin/env bash
# `make lint`'s state machine check: asl-validator over every state machine definition in
# template.yaml (tools/asl-lint), installed from npm into .local/asl-lint when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOL="$ROOT/tools/asl-lint"
INSTALLED="$ROOT/.local/asl-lint"
if ! cmp -s "$TOOL/package-lock.json" "$INSTALLED/package-lock.json"; then
  echo "installing asl-validator (tools/asl-lint/package.json) into .local/asl-lint" >&2
  rm -rf "$INSTALLED"
  mkdir -p "$INSTALLED"
  cp "$TOOL/package.json" "$TOOL/package-lock.json" "$INSTALLED/"
  npm ci --silent --no-audit --no-fund --prefix "$INSTALLED" >/dev/null
fi
# Run from beside its node_modules: ES modules resolve packages from the script's folder.
cp "$TOOL/asl-lint.mjs" "$INSTALLED/"
node "$INSTALLED/asl-lint.mjs" "$ROOT/template.yaml"
