package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Credentials are temporary AWS credentials. They print without their secrets.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	// AssumedRoleARN is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, for messages.
	AssumedRoleARN string
}

// String shows only what may be logged: the access key id, the role and the expiry.
func (c Credentials) String() string {
	return fmt.Sprintf("%s (%s, expires %s)", c.AccessKeyID, c.AssumedRoleARN, c.Expiration.UTC().Format(time.RFC3339))
}

// Options tune a Client. The zero value is the production default.
type Options struct {
	// HTTPClient sends the STS requests; nil: a client with a 30s timeout that honours
	// $HTTPS_PROXY and friends.
	HTTPClient *http.Client
	// MaxAttempts bounds the calls per Assume, first included; 0 means 5.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: before retry n the client waits a
	// random time in [0, min(MaxDelay, BaseDelay*2^(n-1))) ("full jitter").
	// 0 means 500ms and 8s.
	BaseDelay, MaxDelay time.Duration
	// Sleep waits d or until ctx ends; nil: a real timer. Tests record instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random duration in [0, max); nil: math/rand/v2.
	Jitter func(max time.Duration) time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Log gets one line per retry (code, attempt, delay; never a token); nil: quiet.
	Log io.Writer
}

// Client assumes one configured role. It is safe for concurrent use.
type Client struct {
	cfg  Config
	sts  *sts.Client
	opts Options
}

// New returns a Client for cfg, calling STS with aws-sdk-go-v2 (unsigned, as
// AssumeRoleWithWebIdentity is) and doing its own retries.
func New(cfg Config, opts Options) *Client {
	if opts.HTTPClient == nil {
		// No redirects: a 307 would send the token on to wherever it points.
		opts.HTTPClient = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 500 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 8 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Jitter == nil {
		opts.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	o := sts.Options{
		AppID:       "keyless",
		Region:      cfg.Region,
		HTTPClient:  opts.HTTPClient,
		Retryer:     aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{},
	}
	if cfg.STSEndpoint.URL != "" {
		o.BaseEndpoint = aws.String(cfg.STSEndpoint.URL)
	}
	return &Client{cfg: cfg, sts: sts.New(o), opts: opts}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config returns the resolved configuration the client uses.
func (c *Client) Config() Config { return c.cfg }

// Assume reads the token (again, for a file source) and calls AssumeRoleWithWebIdentity,
// retrying transient failures (see Retryable). A failure is an *AssumeError that says
// what to check.
func (c *Client) Assume(ctx context.Context) (Credentials, error) {
	tok, err := c.cfg.Token.Token()
	if err != nil {
		return Credentials{}, err
	}
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(c.cfg.RoleARN),
		RoleSessionName:  aws.String(c.cfg.SessionName),
		WebIdentityToken: aws.String(tok),
	}
	if c.cfg.Duration > 0 {
		in.DurationSeconds = aws.Int32(int32(c.cfg.Duration / time.Second))
	}
	if c.cfg.SessionPolicy != "" {
		in.Policy = aws.String(c.cfg.SessionPolicy)
	}
	for attempt := 1; ; attempt++ {
		out, err := c.sts.AssumeRoleWithWebIdentity(ctx, in)
		if err == nil {
			return credentialsOf(out)
		}
		retry := Retryable(err) && ctx.Err() == nil
		if !retry || attempt == c.opts.MaxAttempts {
			return Credentials{}, c.failure(err, tok, attempt)
		}
		delay := c.opts.Jitter(backoff(attempt, c.opts.BaseDelay, c.opts.MaxDelay))
		if c.opts.Log != nil {
			fmt.Fprintf(c.opts.Log, "keyless: attempt %d of %d failed (%s); retrying in %s\n",
				attempt, c.opts.MaxAttempts, scrub(summary(err), tok), delay.Round(time.Millisecond))
		}
		if serr := c.opts.Sleep(ctx, delay); serr != nil {
			return Credentials{}, c.failure(errors.Join(err, serr), tok, attempt)
		}
	}
}

// backoff is the longest wait before retry n: base·2^(n-1), capped at max (no overflow
// however many attempts).
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

func credentialsOf(out *sts.AssumeRoleWithWebIdentityOutput) (Credentials, error) {
	cr := out.Credentials
	if cr == nil || aws.ToString(cr.AccessKeyId) == "" || aws.ToString(cr.SecretAccessKey) == "" ||
		aws.ToString(cr.SessionToken) == "" || cr.Expiration == nil {
		return Credentials{}, errors.New("the STS answer has no complete Credentials element")
	}
	c := Credentials{
		AccessKeyID:     aws.ToString(cr.AccessKeyId),
		SecretAccessKey: aws.ToString(cr.SecretAccessKey),
		SessionToken:    aws.ToString(cr.SessionToken),
		Expiration:      cr.Expiration.UTC(),
	}
	if out.AssumedRoleUser != nil {
		c.AssumedRoleARN = aws.ToString(out.AssumedRoleUser.Arn)
	}
	return c, nil
}
