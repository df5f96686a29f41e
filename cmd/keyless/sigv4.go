package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyless-dev/keyless/internal/sigv4"
)

// sigv4Cmd holds the SigV4 debugging tools.
type sigv4Cmd struct {
	Explain sigv4ExplainCmd `cmd:"" help:"Show our canonical request, string to sign and expected signature for a raw signed request, and whether its signature matches (exit 0 match, 1 mismatch or rejected, 2 bad input)."`
}

type sigv4ExplainCmd struct {
	Request   string `required:"" placeholder:"FILE" help:"Raw HTTP/1.1 request as the client sent it (header-signed or presigned), or - for standard input."`
	SecretKey string `name:"secret-key" required:"" env:"AWS_SECRET_ACCESS_KEY" placeholder:"KEY" help:"Secret access key the request should be signed with."`
	Time      string `placeholder:"RFC3339" help:"The time to treat as now for the skew and expiry checks (default: the current time)."`
	Format    string `enum:"text,json" default:"text" help:"Output format (${enum})."`
	Rules     string `enum:"auto,s3,generic" default:"auto" help:"Canonicalisation (${enum}); auto uses S3 rules when the credential scope's service is s3."`
}

// explainJSON is the --format json output.
type explainJSON struct {
	CanonicalRequest string `json:"canonical_request"`
	StringToSign     string `json:"string_to_sign"`
	Signature        string `json:"signature"`
	Match            bool   `json:"match"`
}

func (c *sigv4ExplainCmd) Run(io stdio) error {
	raw, err := readInput(c.Request, io.In)
	if err != nil {
		return badInput("%v", err)
	}
	now := time.Now()
	if c.Time != "" {
		if now, err = time.Parse(time.RFC3339, c.Time); err != nil {
			return badInput("--time: %v", err)
		}
	}
	rules := map[string]sigv4.Rules{"auto": sigv4.RulesAuto, "s3": sigv4.RulesS3, "generic": sigv4.RulesGeneric}[c.Rules]
	e, err := sigv4.Explain(raw, c.SecretKey, now, rules)
	if err != nil {
		return badInput("%s: %v", c.Request, err)
	}
	if c.Format == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(explainJSON{e.CanonicalRequest, e.StringToSign, e.Signature, e.Match}); err != nil {
			return err
		}
		if e.Problem != nil {
			fmt.Fprintf(io.Err, "keyless: the request would be rejected: %v\n", e.Problem)
		}
	} else if err := e.WriteText(io.Out); err != nil {
		return err
	}
	if !e.Match || e.Problem != nil {
		return exitStatus(1)
	}
	return nil
}
