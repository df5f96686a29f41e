#!/usr/bin/env bash
# The seed's whole flow, end to end, with the real AWS CLI as the client (issue 7):
# keylessd with examples/circleci-s3-deploy, a CircleCI v2 token from keyless's issuer,
# `aws sts assume-role-with-web-identity`, `aws s3 sync --only-show-errors --delete`, and every denial the
# seed must produce, each found again in the audit log with its reason. It runs with the
# AWS CLI v1 on PATH (honours AWS_ENDPOINT_URL_*), then Debian's awscli v2 (--endpoint-url
# only; installed when missing), then through `keyless exec`, then with no keyless client
# at all (the SDKs' own web-identity federation). Everything talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ORG=f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d
PROD_CTX=7a1e3c5b-2d4f-4a6b-8c9d-0e1f2a3b4c5d
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_E2E:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

step "build keylessd and keyless"
go build -o "$WORK/bin/keylessd" ./cmd/keylessd
go build -o "$WORK/bin/keyless" ./cmd/keyless
KL="$WORK/bin/keyless"

PORT=$(free_port)
PORT_PAST=$(free_port)
URL="http://127.0.0.1:$PORT"
SITE="$WORK/site"
cp -r examples/circleci-s3-deploy "$SITE"
rm -rf "$SITE/keyless-data"
sed -i "s/127\.0\.0\.1:8700/127.0.0.1:$PORT/g" "$SITE/keyless.yaml" "$SITE"/policies/*.json
CFG="$SITE/keyless.yaml"

# The node two hours behind shares the keys, revocations and audit (same data_dir) but
# keeps objects of its own: a filesystem object store belongs to one node.
CFG_PAST="$SITE/keyless-past.yaml"
sed 's|^objects:.*||' "$CFG" >"$CFG_PAST"
printf 'objects: {backend: filesystem, dir: ./objects-past}\n' >>"$CFG_PAST"

start_node() { # config port log [extra flags...]
  local cfg=$1 port=$2 log=$3; shift 3
  "$WORK/bin/keylessd" --config "$cfg" --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/-/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  cat "$log"; fail "keylessd on port $port did not become ready"
}

step "start keylessd on $URL, and a second node sharing its data with a clock two hours behind"
start_node "$CFG" "$PORT" "$WORK/keylessd.log"
start_node "$CFG_PAST" "$PORT_PAST" "$WORK/keylessd-past.log" --clock-offset=-2h
MINT_SECRET="$SITE/keyless-data/mint-secret"
OPERATOR_SECRET=$(cat "$SITE/keyless-data/operator-secret")

mint() { "$KL" token mint --issuer "$URL" --mint-secret-file "$MINT_SECRET" --org "$ORG" --vcs-origin github.com/my-org/site "$@"; }
WORKFLOW_ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
SESSION="circleci-deploy-session-$WORKFLOW_ID"
ROLE_SEED=arn:aws:iam::123456789012:role/CircleCI-OIDC-Role
ROLE_PROD=arn:aws:iam::123456789012:role/deploy-prod

step "mint a CircleCI v2 token for main"
TOKEN_MAIN=$(mint --vcs-ref refs/heads/main)
[ "$(echo "$TOKEN_MAIN" | tr -cd . | wc -c)" = 2 ] || fail "minted token is not a compact JWS"
# (grep >/dev/null, not grep -q: -q exits at the first match, and under pipefail the
# writer's SIGPIPE would fail the pipeline)
"$KL" token decode "$TOKEN_MAIN" | grep '"sub": "org/'"$ORG"'/project/' >/dev/null || fail "decoded token has no v2 subject"
ok "token minted and decoded"

export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_S3 || true
export AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials"
: >"$AWS_CONFIG_FILE"; : >"$AWS_SHARED_CREDENTIALS_FILE"

# as_operator CMD...: the operator key reads buckets back for byte comparison.
as_operator() {
  env -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=AKIAKEYLESSOPERATOR1 AWS_SECRET_ACCESS_KEY="$OPERATOR_SECRET" "$@"
}

# expect_error CODE CMD...: the command must fail and print CODE.
expect_error() {
  local code=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "expected $code, but the command succeeded: $*"; fi
  echo "$out" | grep "$code" >/dev/null || { echo "$out"; fail "expected $code from: $*"; }
}

# bucket_equals AWS BUCKET DIR: the bucket holds exactly DIR's files, byte for byte.
bucket_equals() {
  local aws=$1 bucket=$2 dir=$3 down="$WORK/down-$RANDOM"
  as_operator "$aws" s3 sync --only-show-errors "s3://$bucket" "$down" --endpoint-url "$URL" >/dev/null
  diff -r "$dir" "$down" || fail "s3://$bucket differs from $dir"
  rm -rf "$down"
}

run_cli_flow() { # name aws-binary
  local name=$1 aws=$2
  step "[$name] $("$aws" --version 2>&1)"
  local dist="$WORK/dist-$name"
  rm -rf "$dist"; cp -r "$SITE/dist" "$dist"
  local creds
  creds=$("$aws" sts assume-role-with-web-identity --endpoint-url "$URL" \
      --role-arn "$ROLE_SEED" --role-session-name "$SESSION" --web-identity-token "$TOKEN_MAIN" \
      --duration-seconds 3600 --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
  read -r AKID SECRET STOKEN <<<"$creds"
  [[ $AKID == ASIA* ]] || fail "[$name] access key id $AKID does not start with ASIA"
  ok "[$name] assume-role-with-web-identity gave ASIA credentials"
  export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$STOKEN

  "$aws" sts get-caller-identity --endpoint-url "$URL" --output json >"$WORK/whoami.json"
  grep -q "assumed-role/CircleCI-OIDC-Role/$SESSION" "$WORK/whoami.json" || { cat "$WORK/whoami.json"; fail "[$name] get-caller-identity"; }
  ok "[$name] get-caller-identity names the assumed-role session"

  "$aws" s3 sync --only-show-errors --delete "$dist" s3://my-static-website-bucket --endpoint-url "$URL"
  bucket_equals "$aws" my-static-website-bucket "$dist"
  "$aws" s3 ls --recursive s3://my-static-website-bucket --endpoint-url "$URL" >"$WORK/ls.txt"
  grep -q "assets/release notes.txt" "$WORK/ls.txt" || fail "[$name] s3 ls misses a key"
  ok "[$name] s3 sync --only-show-errors --delete uploaded dist/ byte for byte"

  echo "<p>changed by $name</p>" >>"$dist/index.html"
  rm "$dist/robots.txt"
  echo "new" >"$dist/new-page.html"
  "$aws" s3 sync --only-show-errors --delete "$dist" s3://my-static-website-bucket --endpoint-url "$URL"
  bucket_equals "$aws" my-static-website-bucket "$dist"
  ok "[$name] a second sync uploaded the change and deleted the removed file"

  expect_error AccessDenied "$aws" s3 cp "$dist/index.html" s3://prod-site-bucket/index.html --endpoint-url "$URL"
  ok "[$name] writing outside the allowed bucket is AccessDenied"
  expect_error AccessDenied "$aws" s3api get-object --bucket my-static-website-bucket --key index.html "$WORK/x" --endpoint-url "$URL"
  ok "[$name] reading is not in the deploy policy: AccessDenied"
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

  local token_feature token_wrong_aud token_expired
  token_feature=$(mint --vcs-ref refs/heads/feature-x --context-id "$PROD_CTX")
  expect_error AccessDenied "$aws" sts assume-role-with-web-identity --endpoint-url "$URL" \
      --role-arn "$ROLE_PROD" --role-session-name "$SESSION" --web-identity-token "$token_feature"
  ok "[$name] a token for another branch is AccessDenied on the prod role"

  token_wrong_aud=$(mint --vcs-ref refs/heads/main --aud someone-else)
  expect_error InvalidIdentityToken "$aws" sts assume-role-with-web-identity --endpoint-url "$URL" \
      --role-arn "$ROLE_SEED" --role-session-name "$SESSION" --web-identity-token "$token_wrong_aud"
  ok "[$name] a token with the wrong audience is InvalidIdentityToken"

  token_expired=$("$KL" token mint --issuer "http://127.0.0.1:$PORT_PAST" --mint-secret-file "$MINT_SECRET" --org "$ORG" --vcs-origin github.com/my-org/site --vcs-ref refs/heads/main)
  expect_error ExpiredTokenException "$aws" sts assume-role-with-web-identity --endpoint-url "$URL" \
      --role-arn "$ROLE_SEED" --role-session-name "$SESSION" --web-identity-token "$token_expired"
  ok "[$name] an expired token is ExpiredTokenException"

  # Credentials minted by the node two hours behind expired an hour ago for everyone else.
  creds=$("$aws" sts assume-role-with-web-identity --endpoint-url "http://127.0.0.1:$PORT_PAST" \
      --role-arn "$ROLE_SEED" --role-session-name "$SESSION" --web-identity-token "$token_expired" \
      --duration-seconds 3600 --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
  read -r AKID SECRET STOKEN <<<"$creds"
  expect_error ExpiredToken env AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_SESSION_TOKEN="$STOKEN" \
      "$aws" s3 ls s3://my-static-website-bucket --endpoint-url "$URL"
  ok "[$name] credentials past their expiry are ExpiredToken"
}

run_cli_flow v1 aws
if [ ! -x /usr/bin/aws ]; then
  step "install Debian's awscli (v2)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null) || fail "could not install Debian's awscli"
fi
run_cli_flow v2 /usr/bin/aws

step "[keyless exec] the orb step replaced by keyless"
rm -rf "$WORK/dist-exec"; cp -r "$SITE/dist" "$WORK/dist-exec"; echo "exec" >"$WORK/dist-exec/exec.txt"
CIRCLE_OIDC_TOKEN_V2="$TOKEN_MAIN" "$KL" exec --sts-endpoint "$URL" --role-arn "$ROLE_SEED" --role-session-name "$SESSION" \
  -- aws s3 sync --only-show-errors --delete "$WORK/dist-exec" s3://my-static-website-bucket
bucket_equals aws my-static-website-bucket "$WORK/dist-exec"
ok "[keyless exec] aws s3 sync --delete through keyless exec, which points the AWS CLI at keyless by itself"
set +e
CIRCLE_OIDC_TOKEN_V2="$TOKEN_MAIN" "$KL" exec --sts-endpoint "$URL" --role-arn "$ROLE_SEED" --role-session-name "$SESSION" -- sh -c 'exit 7'
st=$?
set -e
[ "$st" = 7 ] || fail "keyless exec did not pass the exit status through (got $st)"
ok "[keyless exec] the command's exit status is passed through"

step "[SDK federation] no keyless client: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ENDPOINT_URL"
printf '%s\n' "$TOKEN_MAIN" >"$WORK/token"   # with a trailing newline, as CircleCI's docs write it
rm -rf "$WORK/dist-sdk"; cp -r "$SITE/dist" "$WORK/dist-sdk"; echo "sdk" >"$WORK/dist-sdk/sdk.txt"
AWS_WEB_IDENTITY_TOKEN_FILE="$WORK/token" AWS_ROLE_ARN="$ROLE_SEED" AWS_ROLE_SESSION_NAME="$SESSION" AWS_ENDPOINT_URL="$URL" \
  aws s3 sync --only-show-errors --delete "$WORK/dist-sdk" s3://my-static-website-bucket
bucket_equals aws my-static-website-bucket "$WORK/dist-sdk"
ok "[SDK federation] plain aws s3 sync federated through keyless on its own"

step "the audit log holds every step, with the session name, and each denial with its reason"
"$WORK/bin/keylessd" audit --config "$CFG" --format json >"$WORK/audit.json"
grep -q "\"roleSessionName\":\"$SESSION\"" "$WORK/audit.json" || fail "no STS event with the session name"
for ev in AssumeRoleWithWebIdentity GetCallerIdentity PutObject DeleteObject ListObjectsV2; do
  grep -q "\"eventName\":\"$ev\"" "$WORK/audit.json" || fail "no $ev event in the audit log"
done
for code in AccessDenied InvalidIdentityToken ExpiredTokenException ExpiredToken; do
  grep "\"errorCode\":\"$code\"" "$WORK/audit.json" | grep '"reason":"' >/dev/null || fail "no $code event with a reason"
done
"$WORK/bin/keylessd" audit --config "$CFG" --decision deny | head -20
ok "audit events found for every step and denial"

grep -E "$TOKEN_MAIN|$OPERATOR_SECRET" "$WORK"/keylessd*.log "$SITE/keyless-data/audit.jsonl" >/dev/null && fail "a token or secret reached a log"
ok "no token or secret in the server logs or the audit log"

echo
echo "$passed passed, 0 failed"
