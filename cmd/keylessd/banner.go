package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/keyless-dev/keyless/internal/config"
)

// printDevBanner prints the commands that exercise the dev server, exactly as the
// README's quick start shows them.
func printDevBanner(w io.Writer, cfg *config.Config) {
	secret, err := filepath.Rel(cfg.Dir, cfg.Issuer.MintSecretFile)
	if err != nil {
		secret = cfg.Issuer.MintSecretFile
	}
	role := cfg.RoleARN(cfg.Roles[0])
	fmt.Fprintf(w, `
keyless dev server on %[1]s (state in %[2]s)
  issuer    %[3]s
  role      %[4]s
  bucket    s3://%[5]s

In a second shell, get a CI job's token and deploy through keyless:

  export CIRCLE_OIDC_TOKEN_V2=$(go run ./cmd/keyless token mint --issuer %[1]s \
      --mint-secret-file %[6]s --org %[7]s --vcs-ref refs/heads/main)
  go run ./cmd/keyless exec --sts-endpoint %[1]s \
      --role-arn %[4]s --role-session-name circleci-deploy-session-1 \
      -- aws s3 sync --delete ./examples/circleci-s3-deploy/dist s3://%[5]s
  go run ./cmd/keylessd demo                 # the whole story, allowed and denied, explained

`, cfg.PublicURL, cfg.DataDir, cfg.IssuerURL(config.DevOrg), role, config.DevBucket, secret, config.DevOrg)
}
