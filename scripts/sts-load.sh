#!/usr/bin/env bash
# Load test of AssumeRoleWithWebIdentity against the real keylessd (docs/sts.md,
# "Performance"): builds keylessd, keyless and stsload, writes a load configuration (dev,
# the built-in RS256 issuer, the seed's role and trust policy, no rate limits), starts
# keylessd on a free loopback port, mints tokens with `keyless token mint`, then runs
# stsload at concurrency 1, 8 and 32 for DURATION each, twice: with one token reused by
# every call (what an SDK's refresh does) and with a pool of POOL distinct tokens taken in
# turn (more than the verifier's cache holds, so every call verifies a signature). It
# prints one table and stops everything. Everything talks to 127.0.0.1 only.
#
#   scripts/sts-load.sh                      # DURATION=10s POOL=1500 CONCURRENCY="1 8 32"
#   DURATION=5s CONCURRENCY=32 scripts/sts-load.sh
#   MODES=one CONCURRENCY=32 scripts/sts-load.sh
#   CLIENT=wrk scripts/sts-load.sh           # Debian's wrk with scripts/stsload/wrk.lua (lighter client)
#   PERF=1 scripts/sts-load.sh               # also a perf profile of keylessd per run, in /tmp (needs perf)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
POOL=${POOL:-1500}
CONCURRENCY=${CONCURRENCY:-1 8 32}
MODES=${MODES:-one pool}
CLIENT=${CLIENT:-stsload}
case "$CLIENT" in
  stsload) ;;
  wrk) command -v wrk >/dev/null || { echo "CLIENT=wrk needs wrk (apt-get install -y wrk)" >&2; exit 2; } ;;
  *) echo "CLIENT must be stsload or wrk" >&2; exit 2 ;;
esac
ORG=f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d
ROLE=arn:aws:iam::123456789012:role/CircleCI-OIDC-Role
WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -z "${KEEP_LOAD:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "== build" >&2
CGO_ENABLED=0 go build -o "$WORK/bin/keylessd" ./cmd/keylessd
CGO_ENABLED=0 go build -o "$WORK/bin/keyless" ./cmd/keyless
CGO_ENABLED=0 go build -o "$WORK/bin/stsload" ./scripts/stsload

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
HOST="127.0.0.1:$PORT"
mkdir -p "$WORK/data"
sed "s/127\.0\.0\.1:8700/$HOST/g" examples/circleci-s3-deploy/policies/trust-seed.json >"$WORK/trust-seed.json"
cat >"$WORK/keyless.yaml" <<YAML
account_id: "123456789012"
region: us-east-1
listen: $HOST
public_url: $URL
data_dir: $WORK/data
dev: true
issuer:
  enabled: true
  orgs: ["$ORG"]
  algorithm: RS256
  token_ttl: 1h
  mint_secret_file: $WORK/data/mint-secret
providers:
  - url: $URL/-/oidc/org/$ORG
    client_ids: ["$ORG"]
roles:
  - name: CircleCI-OIDC-Role
    max_session_duration: 1h
    trust_policy: $WORK/trust-seed.json
rate_limits:
  per_source_ip: 0
  per_role: 0
YAML

echo "== start keylessd on $URL" >&2
"$WORK/bin/keylessd" --config "$WORK/keyless.yaml" >"$WORK/keylessd.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "$URL/-/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "$URL/-/readyz" >/dev/null || { cat "$WORK/keylessd.log" >&2; exit 1; }

echo "== mint 1 + $POOL tokens" >&2
mint() {
  "$WORK/bin/keyless" token mint --issuer "$URL" --mint-secret-file "$WORK/data/mint-secret" --org "$ORG" \
    --vcs-origin github.com/my-org/site --vcs-ref refs/heads/main
}
export -f mint
export WORK URL ORG
mint >"$WORK/token-one"
seq "$POOL" | xargs -P 4 -I{} bash -c mint >"$WORK/token-pool"
[ "$(wc -l <"$WORK/token-pool")" = "$POOL" ] || { echo "minted $(wc -l <"$WORK/token-pool") of $POOL tokens" >&2; exit 1; }

# run_stsload MODE C: one row with stsload (a Go net/http client).
run_stsload() {
  local out
  out=$("$WORK/bin/stsload" --endpoint "$URL" --token-file "$WORK/token-$1" --role-arn "$ROLE" \
    --role-session-name load --concurrency "$2" --duration "$DURATION" --rs256)
  echo "$out" >&2
  ROW_RPS=$(awk '/^throughput/ {print $2}' <<<"$out")
  ROW_P50=$(awk '/^latency/ {print $3}' <<<"$out")
  ROW_P99=$(awk '/^latency/ {print $5}' <<<"$out")
  ROW_CPU=$(awk '/^server CPU/ {print $3}' <<<"$out")
  ROW_RS=$(awk '/^rs256/ {print $2}' <<<"$out")
  ROW_FAILS=$(awk '/^failures/ {n += $2} END {print n + 0}' <<<"$out")
}

# run_wrk MODE C: one row with Debian's wrk and scripts/stsload/wrk.lua.
run_wrk() {
  local threads=$(($2 < 2 ? $2 : 2)) out cpu0 cpu1 calls
  ROW_RS=$("$WORK/bin/stsload" --endpoint "$URL" --token-file "$WORK/token-$1" --role-arn "$ROLE" --rs256-only | awk '{print $2}')
  cpu0=$(curl -fsS "$URL/-/metrics" | awk '/^process_cpu_seconds_total / {print $2}')
  out=$(STSLOAD_TOKENS="$WORK/token-$1" STSLOAD_ROLE="$ROLE" STSLOAD_THREADS=$threads \
    wrk -t"$threads" -c"$2" -d"$DURATION" --latency -s scripts/stsload/wrk.lua "$URL/")
  cpu1=$(curl -fsS "$URL/-/metrics" | awk '/^process_cpu_seconds_total / {print $2}')
  echo "$out" >&2
  calls=$(awk '/requests in/ {print $1}' <<<"$out")
  ROW_RPS=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  ROW_P50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  ROW_P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  ROW_CPU=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$calls" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
  ROW_FAILS=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {n += 1} END {print n + 0}' <<<"$out")
}

ROWS=()
for mode in $MODES; do
  for c in $CONCURRENCY; do
    echo "== $CLIENT tokens=$mode concurrency=$c for $DURATION" >&2
    if [ -n "${PERF:-}" ]; then
      perf record -F "${PERF_FREQ:-999}" -g -p "$PID" -o "$WORK/perf-$mode-$c.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
      PERFPID=$!
    fi
    "run_$CLIENT" "$mode" "$c"
    if [ -n "${PERF:-}" ]; then wait "$PERFPID"; cp "$WORK/perf-$mode-$c.data" "/tmp/sts-load-perf-$mode-$c.data"; fi
    ratio=$(awk -v a="$ROW_CPU" -v b="$ROW_RS" 'BEGIN {printf "%.1f", a / b}')
    ROWS+=("| $mode | $c | $ROW_RPS | $ROW_P50 | $ROW_P99 | $ROW_CPU µs | $ROW_RS µs | ${ratio}x | $ROW_FAILS |")
  done
done

echo
echo "keylessd $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), client $CLIENT, $DURATION per row"
echo "| tokens | concurrency | calls/s | p50 | p99 | server CPU/call | RS256 verify | ratio | failures |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
