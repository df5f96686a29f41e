// Package demo runs the seed's story against a real, in-process keyless node with a
// temporary data directory and tells it step by step: a CI job's token, the role it
// assumes, the site it deploys, and what keyless refuses and why.
package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/server"
	"github.com/keyless-dev/keyless/internal/store"
)

// site is what the demo job deploys.
var site = map[string]string{
	"index.html":      "<h1>Deployed by CircleCI through keyless</h1>\n",
	"assets/site.css": "body { font-family: system-ui; }\n",
	"robots.txt":      "User-agent: *\nAllow: /\n",
}

type story struct {
	w       io.Writer
	base    string
	cfg     *config.Config
	step    int
	roleARN string
}

func (s *story) say(format string, args ...any) { fmt.Fprintf(s.w, format+"\n", args...) }

func (s *story) chapter(title string) {
	s.step++
	fmt.Fprintf(s.w, "\n%d. %s\n", s.step, title)
}

// Run tells the story on w. dir is a scratch folder (removed by the caller).
func Run(ctx context.Context, w io.Writer, dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cfg, err := config.Dev(dir, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, Listener: ln})
	if err != nil {
		ln.Close()
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	defer func() { stop(); <-done }()

	s := &story{w: w, base: "http://" + srv.Addr(), cfg: cfg, roleARN: cfg.RoleARN(cfg.Roles[0])}
	s.say("keyless demo: a dev node on %s, state in a temporary folder.", s.base)
	s.say("Role %s trusts tokens of org %s for branch main only,", s.roleARN, config.DevOrg)
	s.say("and may list and write s3://%s.", config.DevBucket)
	return s.tell(ctx)
}

func (s *story) tell(ctx context.Context) error {
	s.chapter("A CircleCI job on main asks keyless's issuer for its OIDC token")
	token, err := s.mint(ctx, map[string]any{"vcs_origin": "github.com/my-org/site", "vcs_ref": "refs/heads/main"})
	if err != nil {
		return err
	}
	claims := decodeClaims(token)
	s.say("   iss %v", claims["iss"])
	s.say("   sub %v", claims["sub"])
	s.say("   aud %v, expires in 1h", claims["aud"])

	s.chapter("The job assumes the role with it (sts:AssumeRoleWithWebIdentity, unsigned, as the AWS CLI does)")
	creds, err := s.assume(ctx, token, "circleci-deploy-session-demo")
	if err != nil {
		return fmt.Errorf("the allowed assume failed: %w", err)
	}
	s.say("   allowed: %s", aws.ToString(creds.AssumedRoleUser.Arn))
	s.say("   credentials %s..., expire %s", aws.ToString(creds.Credentials.AccessKeyId)[:8], aws.ToTime(creds.Credentials.Expiration).Format(time.RFC3339))
	s.say("   why: %s", s.lastReason("AssumeRoleWithWebIdentity"))
	s3c := s.s3(creds)

	s.chapter("It deploys the site (aws s3 sync --delete does these PutObjects)")
	for _, key := range []string{"index.html", "assets/site.css", "robots.txt"} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(config.DevBucket), Key: aws.String(key),
			Body: strings.NewReader(site[key])}); err != nil {
			return fmt.Errorf("uploading %s: %w", key, err)
		}
		s.say("   PutObject s3://%s/%s: allowed", config.DevBucket, key)
	}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(config.DevBucket)})
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	s.say("   ListObjectsV2: %d objects in the bucket", len(list.Contents))

	s.chapter("The same credentials try to write somewhere else")
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("other-teams-bucket"), Key: aws.String("x"), Body: strings.NewReader("x")})
	s.refused(err, "PutObject")

	s.chapter("A job on a feature branch tries the same role")
	feature, err := s.mint(ctx, map[string]any{"vcs_origin": "github.com/my-org/site", "vcs_ref": "refs/heads/feature-x"})
	if err != nil {
		return err
	}
	_, err = s.assume(ctx, feature, "circleci-deploy-session-feature")
	s.refused(err, "AssumeRoleWithWebIdentity")

	s.chapter("A token minted for another audience")
	other, err := s.mint(ctx, map[string]any{"vcs_ref": "refs/heads/main", "aud": "someone-else"})
	if err != nil {
		return err
	}
	_, err = s.assume(ctx, other, "circleci-deploy-session-aud")
	s.refused(err, "AssumeRoleWithWebIdentity")

	s.chapter("An operator revokes the deploy session (keylessd sessions revoke --session-id ...)")
	if err := s.revokeLastSession(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(config.DevBucket)})
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.refused(err, "ListObjectsV2")

	s.say("\nEvery step above is an audit event in %s;", filepath.Join(s.cfg.DataDir, "audit.jsonl"))
	s.say("`keylessd audit --decision deny` lists the refusals with their reasons.")
	return nil
}

// refused prints a denial: AWS's code and message, and the reason the audit log recorded.
func (s *story) refused(err error, event string) {
	var api smithy.APIError
	if !errors.As(err, &api) {
		s.say("   unexpected: %v", err)
		return
	}
	// Dev mode appends keyless's reason to AWS's message; the story prints the reason
	// on its own line, from the audit log, so show AWS's part here.
	msg := api.ErrorMessage()
	if i := strings.Index(msg, " (keyless dev mode"); i >= 0 {
		msg = msg[:i]
	}
	if m, _, ok := strings.Cut(msg, "Access Denied: "); ok && m == "" {
		msg = "Access Denied"
	}
	s.say("   refused: %s: %s", api.ErrorCode(), msg)
	s.say("   why: %s", s.lastReason(event))
}

func (s *story) mint(ctx context.Context, fields map[string]any) (string, error) {
	secret, err := os.ReadFile(s.cfg.Issuer.MintSecretFile)
	if err != nil {
		return "", err
	}
	fields["org_id"] = config.DevOrg
	body, _ := json.Marshal(fields)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/-/oidc/mint", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(secret)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("minting a token: status %d", resp.StatusCode)
	}
	return out.Token, nil
}

func (s *story) assume(ctx context.Context, token, session string) (*awssts.AssumeRoleWithWebIdentityOutput, error) {
	c := awssts.New(awssts.Options{BaseEndpoint: aws.String(s.base), Region: s.cfg.Region, Credentials: aws.AnonymousCredentials{}})
	return c.AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(s.roleARN), RoleSessionName: aws.String(session), WebIdentityToken: aws.String(token)})
}

func (s *story) s3(out *awssts.AssumeRoleWithWebIdentityOutput) *s3.Client {
	c := out.Credentials
	creds := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	}))
	return s3.New(s3.Options{BaseEndpoint: aws.String(s.base), Region: s.cfg.Region, Credentials: creds, UsePathStyle: true})
}

// auditLine is the part of an audit event the story reads.
type auditLine struct {
	EventName string `json:"eventName"`
	Keyless   struct {
		SessionID string `json:"sessionId"`
		Decision  struct {
			Reason string `json:"reason"`
		} `json:"decision"`
	} `json:"keyless"`
}

// events reads the node's audit log (every answered request's event is committed).
func (s *story) events() []auditLine {
	f, err := os.Open(filepath.Join(s.cfg.DataDir, "audit.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []auditLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditLine
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (s *story) lastReason(event string) string {
	evs := s.events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].EventName == event && evs[i].Keyless.Decision.Reason != "" {
			return evs[i].Keyless.Decision.Reason
		}
	}
	return "(no reason recorded)"
}

func (s *story) revokeLastSession(ctx context.Context) error {
	var id string
	for _, e := range s.events() {
		if e.EventName == "PutObject" && e.Keyless.SessionID != "" {
			id = e.Keyless.SessionID
		}
	}
	if id == "" {
		return errors.New("no deploy session found in the audit log")
	}
	st, err := server.OpenStore(ctx, s.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	if err := st.Revoke(ctx, store.Revocation{SessionID: id, CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour), Reason: "demo"}); err != nil {
		return err
	}
	s.say("   revoked session %s; every node refuses it within seconds", id)
	return nil
}

func decodeClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64URL(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
