package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Var is one environment variable.
type Var struct{ Name, Value string }

// EndpointVars are the variables that point AWS CLIs and SDKs at keyless:
// AWS_ENDPOINT_URL_STS (the STS endpoint), AWS_ENDPOINT_URL_S3 (with --s3-endpoint) and
// AWS_ENDPOINT_URL (the S3 endpoint if given, else the STS endpoint: keyless serves STS
// and S3 on one port, so the one endpoint it knows is right for both). Nothing when STS
// is AWS's own.
func EndpointVars(cfg Config) []Var {
	var vs []Var
	if cfg.STSEndpoint.URL != "" {
		vs = append(vs, Var{"AWS_ENDPOINT_URL_STS", cfg.STSEndpoint.URL})
	}
	if cfg.S3Endpoint != "" {
		vs = append(vs, Var{"AWS_ENDPOINT_URL_S3", cfg.S3Endpoint}, Var{"AWS_ENDPOINT_URL", cfg.S3Endpoint})
	} else if cfg.STSEndpoint.URL != "" {
		vs = append(vs, Var{"AWS_ENDPOINT_URL", cfg.STSEndpoint.URL})
	}
	return vs
}

// RegionVars set both region variables (the AWS CLI v1 and older SDKs read only
// AWS_DEFAULT_REGION).
func RegionVars(cfg Config) []Var {
	return []Var{{"AWS_REGION", cfg.Region}, {"AWS_DEFAULT_REGION", cfg.Region}}
}

// CredentialVars are the static credential variables every SDK's environment provider
// reads, plus AWS_CREDENTIAL_EXPIRATION (botocore and the JS SDK read it and refuse
// expired credentials with a clear message instead of a signature error).
func CredentialVars(c Credentials) []Var {
	return []Var{
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken},
		{"AWS_CREDENTIAL_EXPIRATION", c.Expiration.UTC().Format(time.RFC3339)},
	}
}

// EnvVars is everything `keyless assume --format env` prints and `keyless exec` sets.
func EnvVars(c Credentials, cfg Config) []Var {
	vs := CredentialVars(c)
	vs = append(vs, RegionVars(cfg)...)
	return append(vs, EndpointVars(cfg)...)
}

// WriteEnv prints vs as POSIX shell export lines, values single-quoted, for
// `eval "$(keyless assume)"` or `keyless assume >> "$BASH_ENV"`.
func WriteEnv(w io.Writer, vs []Var) error {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// processCredentials is the credential_process output format (Version 1).
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// WriteJSON prints c in the credential_process format, so that a profile with
// `credential_process = keyless assume --format json ...` works.
func WriteJSON(w io.Writer, c Credentials) error {
	b, err := json.MarshalIndent(processCredentials{
		Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.SessionToken, Expiration: c.Expiration.UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
