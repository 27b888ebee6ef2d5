#!/usr/bin/env bash
# `make sam-build`: `sam build` of every function for x86_64, offline (cargo-lambda builds
# release binaries for provided.al2023; its PyPI package brings zig for the glibc target).
# Too slow for `make test`; README.md says how long it takes.
set -euo pipefail
# shellcheck source=stack.sh
. "$(dirname "$0")/stack.sh"
cd "$ROOT"
ensure_tools
# Without the cache: with CodeUri "." it would hash target/ and .local/ first.
sam build --beta-features --no-cached --parameter-overrides Architecture=x86_64 "$@"
