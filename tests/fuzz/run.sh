#!/usr/bin/env bash
# Fuzzes every target for SECONDS_PER_TARGET (default 60): installs cargo-fuzz if missing,
# builds the targets once, runs each in turn, and exits non-zero if any crashed, saying where
# the crashing inputs are. Stable Rust is enough: libFuzzer's coverage needs no nightly flag,
# only AddressSanitizer would, and safe Rust gains little from it (`-s none`).
#
#   bash tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# A crash worth keeping goes to regressions/<target>/ (after `cargo fuzz tmin` if it is big);
# `cargo test --workspace` then replays it with every seed, without libFuzzer.
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$(pwd)
seconds="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Every cargo fuzz call must use the same flags, or `run` rebuilds. Debug assertions and
# overflow checks stay on (cargo fuzz's default): an overflow is a finding.
fuzz=(cargo fuzz)
flags=(--fuzz-dir "$fuzz_dir" -s none)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$fuzz_dir")
  [ ${#targets[@]} -gt 0 ] || { echo "cargo fuzz list found no targets" >&2; exit 1; }
fi

# FUZZ_SEED=N makes a run from an empty corpus repeat exactly (CI: a slower machine explores a
# prefix of what the same seed explored here); unset, every run explores somewhere new.
seed_args=()
if [ -n "${FUZZ_SEED:-}" ]; then
  seed_args=(-seed="$FUZZ_SEED")
fi

start=$SECONDS
echo "== building ${#targets[@]} fuzz targets"
"${fuzz[@]}" build "${flags[@]}"
echo "== built in $((SECONDS - start)) s"

failed=()
for target in "${targets[@]}"; do
  echo "== fuzzing $target for $seconds s"
  # The first directory gathers what libFuzzer finds (ignored by git); seeds/ is read only.
  mkdir -p "corpus/$target" "artifacts/$target"
  if ! "${fuzz[@]}" run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -dict=fuzz.dict -print_final_stats=1 "${seed_args[@]}" \
    2>"artifacts/$target.log"; then
    failed+=("$target")
  fi
  # libFuzzer's closing stats, and on a crash its report.
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|Done|==[0-9]+==|SUMMARY|thread .* panicked|Failing input|.*artifact_prefix|Test unit written)' \
    "artifacts/$target.log" || true
done

echo "== fuzzing took $((SECONDS - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FUZZING FOUND CRASHES in: ${failed[*]}" >&2
  for target in "${failed[@]}"; do
    echo "  $target: $fuzz_dir/artifacts/$target/ (full log: $fuzz_dir/artifacts/$target.log)" >&2
  done
  echo "Reproduce: cargo fuzz run --fuzz-dir $fuzz_dir -s none TARGET artifacts/TARGET/crash-...;" >&2
  echo "keep it: copy it into $fuzz_dir/regressions/TARGET/ and fix until cargo test passes." >&2
  exit 1
fi
echo "no crashes"
