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
#   PERF=1 scripts/sts-load.sh               # also a perf profile of keylessd per run, in /tmp (needs perf)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
POOL=${POOL:-1500}
CONCURRENCY=${CONCURRENCY:-1 8 32}
MODES=${MODES:-one pool}
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

ROWS=()
for mode in $MODES; do
  for c in $CONCURRENCY; do
    echo "== tokens=$mode concurrency=$c for $DURATION" >&2
    if [ -n "${PERF:-}" ]; then
      perf record -F ${PERF_FREQ:-999} -g -p "$PID" -o "$WORK/perf-$mode-$c.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
      PERFPID=$!
    fi
    out=$("$WORK/bin/stsload" --endpoint "$URL" --token-file "$WORK/token-$mode" --role-arn "$ROLE" \
      --role-session-name load --concurrency "$c" --duration "$DURATION" --rs256)
    [ -n "${PERF:-}" ] && wait "$PERFPID" && cp "$WORK/perf-$mode-$c.data" "/tmp/sts-load-perf-$mode-$c.data"
    echo "$out" >&2
    rps=$(awk '/^throughput/ {print $2}' <<<"$out")
    p50=$(awk '/^latency/ {print $3}' <<<"$out")
    p99=$(awk '/^latency/ {print $5}' <<<"$out")
    cpu=$(awk '/^server CPU/ {print $3}' <<<"$out")
    rs=$(awk '/^rs256/ {print $2}' <<<"$out")
    ratio=$(awk '/^rs256/ {print $(NF-2)}' <<<"$out")
    fails=$(awk '/^failures/ {n += $2} END {print n + 0}' <<<"$out")
    ROWS+=("| $mode | $c | $rps | $p50 | $p99 | $cpu µs | $rs µs | ${ratio}x | $fails |")
  done
done

echo
echo "keylessd $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), client stsload (net/http), $DURATION per row"
echo "| tokens | concurrency | calls/s | p50 | p99 | server CPU/call | RS256 verify | ratio | failures |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
