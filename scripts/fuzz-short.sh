#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (default 5000 executions each): the seed
# corpus and testdata/fuzz entries always run as part of `go test`; this adds a short
# random search. A count rather than a duration: with `-fuzztime 4s` the fuzzer sometimes
# fails with "context deadline exceeded" when the time runs out while a worker is busy on
# a loaded machine, a failure of the tool rather than of the code.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-5000x}"
count=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    count=$((count + 1))
  done
done
echo "fuzzed $count targets"
