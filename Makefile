# The two commands: `make dev` runs the API locally, `make test` runs every test.
.PHONY: dev test rehearse bench slow-check fuzz-api load sam-build lint fmt

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

# template.yaml deployed as it is on MiniStack (CloudFormation, API Gateway, Lambda, Step
# Functions, IAM), then the SDK and end-to-end tests through the deployed API; also a step of
# `make test`.
rehearse:
	@scripts/rehearse.sh

# The benchmark suite, one table (docs/performance.md; not part of `make test`).
bench:
	@scripts/bench.sh

# One object over 5 GiB through `uploads put` and the worker, with time and peak memory
# (not part of `make test`: minutes, and about 20 GB of disk).
slow-check:
	@scripts/slow-check.sh

# schemathesis against /openapi.json on a stack of its own, without make test's time budget.
fuzz-api:
	@scripts/fuzz-api.sh

# A bounded load test on 127.0.0.1 (50 clients, 60 s), with end-state checks.
load:
	@scripts/load.sh

# `sam build` of every function for x86_64, offline (slow: release builds with LTO).
sam-build:
	@scripts/sam-build.sh

# Formatting and lints (cargo fmt, clippy with warnings as errors), and the state machine
# definitions in template.yaml checked by asl-validator.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	@scripts/lint-asl.sh

fmt:
	cargo fmt --all
