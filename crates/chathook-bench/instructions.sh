#!/usr/bin/env bash
# Instructions per callback under valgrind's callgrind: the request path, the read-receipt
# store alone, and read receipts over HTTP. The counts repeat for the same binary and input,
# so unlike wall time they do not move with the machine's load. Installs valgrind from
# Debian's packages if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release -q -p chathook-bench -- --instructions "$@"
