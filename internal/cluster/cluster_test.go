package cluster_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/keyless-dev/keyless/internal/audit"
)

// cluster is three nodes (A, B, C) behind one public_url (A's address), sharing
// PostgreSQL through db, and an upstream keylessd on its filesystem backend.
type cluster struct {
	A, B, C  *proc
	upstream *proc
	db       *proxy
}

func (c *cluster) nodes() []*proc { return []*proc{c.A, c.B, c.C} }

func startCluster(t *testing.T, base string) *cluster {
	t.Helper()
	bin := buildKeylessd(t)
	dbURL := freshSchema(t, base)
	db, viaProxy := startProxy(t, dbURL)

	upAddr := freeAddr(t)
	up := newProc(t, bin, "upstream", upAddr, fmt.Sprintf(`account_id: "123456789012"
region: us-east-1
listen: %s
public_url: http://%s
data_dir: ./data
issuer: {enabled: false}
operator_keys:
  - access_key_id: %s
    secret_access_key_file: ./upstream-secret
    policies:
      all: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
audit: {s3_events: denied}
`, upAddr, upAddr, upstreamKey), map[string][]byte{"upstream-secret": []byte(upstreamPass)})
	up.start()

	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	public := "http://" + addrs[0]
	provider := addrs[0] + "/-/oidc/org/" + org
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/%s"},
 "Action":"sts:AssumeRoleWithWebIdentity",
 "Condition":{"StringEquals":{"%s:aud":"%s"},"StringLike":{"%s:sub":"org/%s/project/*/user/*"}}}]}`,
		provider, provider, org, provider, org)
	site := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}]}`
	c := &cluster{upstream: up, db: db}
	for i, name := range []string{"A", "B", "C"} {
		y := fmt.Sprintf(`account_id: "123456789012"
region: us-east-1
listen: %s
public_url: %s
data_dir: ./data
database_url: %q
dev: true
issuer:
  orgs: [%s]
  mint_secret_file: ./mint-secret
providers:
  - url: http://%s
    client_ids: [%s]
roles:
  - name: deployer
    trust_policy: %q
    policies:
      site: %q
buckets: [%s]
objects:
  backend: s3
  s3: {endpoint: "http://%s", region: us-east-1, access_key_id: %s, secret_access_key_file: ./upstream-secret}
audit: {s3_events: writes}
rate_limits: {per_source_ip: 0, per_role: 0}
`, addrs[i], public, viaProxy, org, provider, org, trust, site, bucket, upAddr, upstreamKey)
		p := newProc(t, bin, name, addrs[i], y, map[string][]byte{
			"mint-secret": []byte(mintSecret), "upstream-secret": []byte(upstreamPass), "data/master.key": master,
		})
		switch name {
		case "A":
			c.A = p
		case "B":
			c.B = p
		case "C":
			c.C = p
		}
	}
	for _, p := range c.nodes() {
		p.start()
	}
	return c
}

// mint asks node n's issuer for a CI token of the dev org's main branch.
func mint(t *testing.T, n *proc) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, n.URL+"/-/oidc/mint",
		strings.NewReader(`{"org_id":"`+org+`","vcs_ref":"refs/heads/main","aud":"`+org+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+mintSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mint on %s: %v", n.name, err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Token == "" {
		t.Fatalf("mint on %s: status %d, %v", n.name, resp.StatusCode, err)
	}
	return out.Token
}

// kid is a JWT's key id.
func kid(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ Kid string }
	if err == nil {
		err = json.Unmarshal(raw, &h)
	}
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	return h.Kid
}

func stsClient(n *proc) *sts.Client {
	o := sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.URL), Retryer: aws.NopRetryer{}}
	if n.roots != nil {
		o.HTTPClient = n.sdkHTTPClient(nil)
	}
	return sts.New(o)
}

func s3Client(n *proc, creds aws.Credentials) *s3.Client {
	o := s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.URL), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: creds}, Retryer: aws.NopRetryer{}}
	if n.roots != nil {
		o.HTTPClient = n.sdkHTTPClient(nil)
	}
	return s3.New(o)
}

// requestIDs collects the request ids of answered calls, to find them in the audit log.
type requestIDs struct {
	mu  sync.Mutex
	ids []string
}

func (r *requestIDs) add(md middleware.Metadata) {
	if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok && id != "" {
		r.mu.Lock()
		r.ids = append(r.ids, id)
		r.mu.Unlock()
	}
}

// addErr records the request id of a call that the node answered with an error.
func (r *requestIDs) addErr(err error) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.ServiceRequestID() != "" {
		r.mu.Lock()
		r.ids = append(r.ids, re.ServiceRequestID())
		r.mu.Unlock()
	}
}

func assume(t *testing.T, n *proc, token, session string, ids *requestIDs) (aws.Credentials, error) {
	out, err := stsClient(n).AssumeRoleWithWebIdentity(t.Context(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session), WebIdentityToken: aws.String(token)})
	if err != nil {
		ids.addErr(err)
		return aws.Credentials{}, err
	}
	ids.add(out.ResultMetadata)
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken)}, nil
}

func putObject(t *testing.T, n *proc, creds aws.Credentials, key, body string, ids *requestIDs) error {
	out, err := s3Client(n, creds).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body)})
	if err != nil {
		ids.addErr(err)
		return err
	}
	ids.add(out.ResultMetadata)
	return nil
}

func getObject(t *testing.T, n *proc, creds aws.Credentials, key string) (string, error) {
	out, err := s3Client(n, creds).GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// auditEvents runs `keylessd audit --format json` with node n's configuration.
func auditEvents(t *testing.T, n *proc) []audit.Event {
	t.Helper()
	var evs []audit.Event
	sc := bufio.NewScanner(strings.NewReader(n.admin("audit", "--format", "json")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestThreeNodesShareOnePostgreSQLAndOneUpstream is issue 8's cluster test: three
// keylessd processes on loopback behind one public_url, sharing a PostgreSQL schema
// of their own and an upstream keylessd (objects.backend s3), driven with the SDK.
// The steps build on each other and run in order.
func TestThreeNodesShareOnePostgreSQLAndOneUpstream(t *testing.T) {
	base := os.Getenv("KEYLESS_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("KEYLESS_TEST_POSTGRES_URL is not set (eval \"$(scripts/start-postgres.sh)\")")
	}
	if testing.Short() {
		t.Skip("builds keylessd and runs four processes")
	}
	c := startCluster(t, base)
	ids := &requestIDs{}
	var creds aws.Credentials

	step(t, "a token minted through A assumes the role on B", func(t *testing.T) {
		var err error
		if creds, err = assume(t, c.B, mint(t, c.A), "cluster-1", ids); err != nil {
			t.Fatal(err)
		}
	})
	step(t, "those credentials write through C and read through A", func(t *testing.T) {
		if err := putObject(t, c.C, creds, "index.html", "<html>one</html>", ids); err != nil {
			t.Fatal(err)
		}
		got, err := getObject(t, c.A, creds, "index.html")
		if err != nil || got != "<html>one</html>" {
			t.Fatalf("read through A: %q, %v", got, err)
		}
	})
	step(t, "a rotation on B is used by A and C within 5 s", func(t *testing.T) {
		old := kid(t, mint(t, c.A))
		c.B.admin("keys", "rotate", "--which", "all")
		// A new key signs only once every node can have loaded it: keyRefresh (5 s)
		// after its creation (docs/postgres.md). The deadline is those 5 s plus the
		// polling interval and the admin command's own run.
		for _, n := range []*proc{c.A, c.C} {
			took := poll(t, 5*time.Second+500*time.Millisecond, n.name+" signs with the new key", func() error {
				if k := kid(t, mint(t, n)); k == old {
					return fmt.Errorf("still signs with %s", k)
				}
				return nil
			})
			t.Logf("%s signs with the new key after %v", n.name, took.Round(time.Millisecond))
		}
		token := mint(t, c.C)
		if kid(t, token) != kid(t, mint(t, c.A)) {
			t.Fatalf("A and C sign with different keys")
		}
		fresh, err := assume(t, c.A, token, "cluster-rotated", ids)
		if err != nil {
			t.Fatalf("a token signed with the new key, on A: %v", err)
		}
		if err := putObject(t, c.B, fresh, "rotated.txt", "after rotation", ids); err != nil {
			t.Fatalf("credentials sealed with the new key, on B: %v", err)
		}
	})
	step(t, "a revocation on C is enforced on A within 5 s", func(t *testing.T) {
		session := sessionOf(t, auditEvents(t, c.A), creds.AccessKeyID)
		c.C.admin("sessions", "revoke", "--session-id", session)
		took := poll(t, 5*time.Second, "A refuses the revoked session", func() error {
			_, err := getObject(t, c.A, creds, "index.html")
			if status(err) != http.StatusForbidden {
				return fmt.Errorf("GetObject: %v", err)
			}
			ids.addErr(err)
			return nil
		})
		t.Logf("A refuses the revoked session after %v", took.Round(time.Millisecond))
	})
	var loadCreds aws.Credentials
	step(t, "killing and restarting B mid-load fails no request on A or C", func(t *testing.T) {
		var err error
		if loadCreds, err = assume(t, c.C, mint(t, c.A), "cluster-load", ids); err != nil {
			t.Fatal(err)
		}
		failed, total := runLoad(t, c, loadCreds, ids, func() {
			c.B.kill()
			c.B.start()
		})
		if failed > 0 {
			t.Fatalf("%d of %d requests to A and C failed while B restarted", failed, total)
		}
		t.Logf("%d requests to A and C while B was killed and restarted, none failed", total)
	})
	step(t, "an audit query from any node returns every event", func(t *testing.T) {
		want := slices.Clone(ids.ids)
		var first []string
		for _, n := range c.nodes() {
			var got []string
			for _, e := range auditEvents(t, n) {
				got = append(got, e.RequestID)
			}
			for _, id := range want {
				if !slices.Contains(got, id) {
					t.Errorf("audit through %s lacks request %s", n.name, id)
				}
			}
			if first == nil {
				first = got
			} else if !slices.Equal(first, got) {
				t.Errorf("audit through %s differs from A's", n.name)
			}
		}
		t.Logf("%d answered requests found in the audit log of every node", len(want))
	})
	step(t, "with PostgreSQL down, cached keys and revocations verify, audited calls are 503, readiness is red", func(t *testing.T) {
		token := mint(t, c.A) // before the outage
		c.db.down()
		for _, n := range c.nodes() {
			poll(t, 10*time.Second, n.name+" turns not ready", func() error {
				if n.ready() == nil {
					return errors.New("still ready")
				}
				return nil
			})
		}
		for _, n := range c.nodes() {
			if got, err := getObject(t, n, loadCreds, "index.html"); err != nil || got != "<html>one</html>" {
				t.Errorf("an allowed read through %s while the database is down: %q, %v", n.name, got, err)
			}
			if _, err := getObject(t, n, creds, "index.html"); status(err) != http.StatusForbidden && status(err) != http.StatusServiceUnavailable {
				t.Errorf("the revoked session through %s: %v, want 403 or 503", n.name, err)
			}
			if err := putObject(t, n, loadCreds, "outage.txt", "x", ids); status(err) != http.StatusServiceUnavailable {
				t.Errorf("a write (audited) through %s: %v, want 503", n.name, err)
			}
			if _, err := assume(t, n, token, "cluster-outage", ids); status(err) != http.StatusServiceUnavailable {
				t.Errorf("AssumeRoleWithWebIdentity (audited) through %s: %v, want 503", n.name, err)
			}
		}
	})
	step(t, "when PostgreSQL returns every node recovers by itself", func(t *testing.T) {
		c.db.restart()
		for _, n := range c.nodes() {
			took := poll(t, 30*time.Second, n.name+" recovers", func() error {
				if err := n.ready(); err != nil {
					return err
				}
				if err := putObject(t, n, loadCreds, "recovered-"+n.name, "ok", ids); err != nil {
					return err
				}
				_, err := assume(t, n, mint(t, c.A), "cluster-recovered", ids)
				return err
			})
			t.Logf("%s ready and serving audited calls %v after the database returned", n.name, took.Round(time.Millisecond))
		}
	})
}

// step runs one step of the story; the story stops at the first failed step.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// sessionOf finds the session id of accessKeyID in the audit events.
func sessionOf(t *testing.T, evs []audit.Event, accessKeyID string) string {
	t.Helper()
	for _, e := range evs {
		if e.UserIdentity.AccessKeyID == accessKeyID && e.Keyless.SessionID != "" {
			return e.Keyless.SessionID
		}
	}
	t.Fatalf("no audit event of %s with a session id", accessKeyID)
	return ""
}

// runLoad sends writes and reads through A and C, and assumptions through A, from two
// workers while disrupt runs, and a few rounds after; it returns how many failed.
func runLoad(t *testing.T, c *cluster, creds aws.Credentials, ids *requestIDs, disrupt func()) (failed, total int64) {
	var nFailed, nTotal atomic.Int64
	var rounds atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	token := mint(t, c.A)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("load/%d/%d", w, i)
				body := bytes.Repeat([]byte{byte('a' + w)}, 1000+i)
				calls := []func() error{
					func() error { return putObject(t, c.C, creds, key, string(body), ids) },
					func() error {
						got, err := getObject(t, c.A, creds, key)
						if err == nil && got != string(body) {
							err = fmt.Errorf("read %d bytes, want %d", len(got), len(body))
						}
						return err
					},
					func() error { _, err := assume(t, c.A, token, "cluster-load", ids); return err },
				}
				for _, call := range calls {
					nTotal.Add(1)
					if err := call(); err != nil {
						nFailed.Add(1)
						t.Errorf("load request failed: %v", err)
					}
				}
				rounds.Add(1)
			}
		})
	}
	disrupt()
	after := rounds.Load()
	poll(t, 30*time.Second, "load continues after B's restart", func() error {
		if rounds.Load() < after+10 {
			return errors.New("fewer than 10 rounds since B returned")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	return nFailed.Load(), nTotal.Load()
}
