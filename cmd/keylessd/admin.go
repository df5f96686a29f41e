package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyless-dev/keyless/internal/config"
	"github.com/keyless-dev/keyless/internal/keys"
	"github.com/keyless-dev/keyless/internal/server"
	"github.com/keyless-dev/keyless/internal/store"
)

// adminConfig is the --config flag every admin subcommand takes; without it the dev
// defaults in the working directory are used (the dev server's own data).
type adminConfig struct {
	Config string `help:"Configuration file of the node whose state to change (default: the dev server's)." type:"path"`
}

func (a adminConfig) load() (*config.Config, error) {
	if a.Config != "" {
		return config.Load(a.Config)
	}
	return config.Dev(".", "")
}

// withStore loads the configuration, opens its store and calls fn with both.
func (a adminConfig) withStore(fn func(ctx context.Context, cfg *config.Config, st store.Store) error) error {
	ctx := context.Background()
	cfg, err := a.load()
	if err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, cfg, st)
}

type keysCmd struct {
	Rotate keysRotateCmd `cmd:"" help:"Rotate keys now: a new key signs (or seals) from now on; the old one stays published until nothing it produced is still valid."`
	List   keysListCmd   `cmd:"" help:"List keys with their state (never their material)."`
}

type keysRotateCmd struct {
	adminConfig
	Which string `help:"Which keys to rotate: signing (the issuer's), sealing (session tokens') or all." enum:"signing,sealing,all" default:"signing"`
}

func (k *keysRotateCmd) Run(io stdio) error {
	return k.withStore(func(ctx context.Context, cfg *config.Config, st store.Store) error {
		return k.rotate(ctx, io, cfg, st)
	})
}

func (k *keysRotateCmd) rotate(ctx context.Context, io stdio, cfg *config.Config, st store.Store) error {
	master, err := server.LoadMasterKey(cfg)
	if err != nil {
		return err
	}
	signOpts, sealOpts := server.KeyOptions(cfg, st, master, time.Now)
	if k.Which == "signing" || k.Which == "all" {
		r, err := keys.NewSigningRing(ctx, signOpts)
		if err != nil {
			return err
		}
		if err := r.Rotate(ctx); err != nil {
			return fmt.Errorf("rotating signing keys: %w", err)
		}
		printKeys(io.Out, "signing", r.Keys())
	}
	if k.Which == "sealing" || k.Which == "all" {
		r, err := keys.NewSealingRing(ctx, sealOpts)
		if err != nil {
			return err
		}
		if err := r.Rotate(ctx); err != nil {
			return fmt.Errorf("rotating sealing keys: %w", err)
		}
		printKeys(io.Out, "sealing", r.Keys())
	}
	fmt.Fprintln(io.Out, "running nodes use the new key within 5 seconds")
	return nil
}

type keysListCmd struct {
	adminConfig
}

func (k *keysListCmd) Run(io stdio) error {
	return k.withStore(func(ctx context.Context, _ *config.Config, st store.Store) error {
		return listKeys(ctx, io.Out, st)
	})
}

func listKeys(ctx context.Context, w io.Writer, st store.Store) error {
	for _, p := range []store.KeyPurpose{store.PurposeSigning, store.PurposeSealing} {
		ks, err := st.ListKeys(ctx, p)
		if err != nil {
			return err
		}
		printKeys(w, string(p), ks)
	}
	return nil
}

func printKeys(w io.Writer, purpose string, ks []store.Key) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s keys\tGEN\tALG\tSTATE\tCREATED\tPUBLISHED UNTIL\n", purpose)
	for _, k := range ks {
		until := "-"
		if !k.RetireAt.IsZero() {
			until = k.RetireAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", k.ID, k.Generation, k.Algorithm, k.State, k.CreatedAt.UTC().Format(time.RFC3339), until)
	}
	_ = tw.Flush()
}

type sessionsCmd struct {
	Revoke sessionsRevokeCmd `cmd:"" help:"Revoke one session, or every session of a role issued before a time."`
}

type sessionsRevokeCmd struct {
	adminConfig
	SessionID    string    `name:"session-id" help:"The session to revoke (from the audit log's keyless.sessionId)."`
	Role         string    `help:"Revoke every session of this role issued before --issued-before."`
	IssuedBefore time.Time `name:"issued-before" help:"RFC 3339 time; with --role." format:"2006-01-02T15:04:05Z07:00"`
	Reason       string    `help:"Why, for the record."`
}

func (s *sessionsRevokeCmd) Run(io stdio) error {
	if (s.SessionID == "") == (s.Role == "") {
		return errors.New("give exactly one of --session-id ID, or --role NAME --issued-before TIME")
	}
	if s.Role != "" && s.IssuedBefore.IsZero() {
		return errors.New("--role needs --issued-before TIME (RFC 3339, e.g. 2026-11-29T12:00:00Z)")
	}
	return s.withStore(func(ctx context.Context, cfg *config.Config, st store.Store) error {
		return s.revoke(ctx, io, cfg, st)
	})
}

func (s *sessionsRevokeCmd) revoke(ctx context.Context, io stdio, cfg *config.Config, st store.Store) error {
	if s.Role != "" {
		if _, ok := cfg.FindRole(s.Role); !ok {
			return fmt.Errorf("no role named %q in the configuration", s.Role)
		}
	}
	now := time.Now().UTC()
	// A revocation matters until every session it covers has expired: sessions last
	// at most the longest max_session_duration (12 hours).
	rev := store.Revocation{SessionID: s.SessionID, Role: s.Role, CreatedAt: now, Reason: s.Reason,
		ExpiresAt: now.Add(keys.DefaultMaxSessionLifetime)}
	if s.Role != "" {
		rev.IssuedBefore = s.IssuedBefore.UTC()
		rev.ExpiresAt = rev.IssuedBefore.Add(keys.DefaultMaxSessionLifetime)
	}
	if err := st.Revoke(ctx, rev); err != nil {
		return fmt.Errorf("recording revocation: %w", err)
	}
	if s.SessionID != "" {
		fmt.Fprintf(io.Out, "revoked session %s; every node refuses it within 5 seconds\n", s.SessionID)
	} else {
		fmt.Fprintf(io.Out, "revoked every session of role %s issued before %s; every node refuses them within 5 seconds\n", s.Role, rev.IssuedBefore.Format(time.RFC3339))
	}
	return nil
}

type auditCmd struct {
	adminConfig
	Since    time.Time `help:"Events at or after this RFC 3339 time." format:"2006-01-02T15:04:05Z07:00"`
	Until    time.Time `help:"Events before this RFC 3339 time." format:"2006-01-02T15:04:05Z07:00"`
	Role     string    `help:"Only this role's events."`
	Subject  string    `help:"Only events of this token subject."`
	Event    string    `help:"Only this event name (AssumeRoleWithWebIdentity, PutObject, ...)."`
	Decision string    `help:"allow or deny." enum:",allow,deny" default:""`
	Format   string    `help:"table or json (one CloudTrail-shaped event per line)." enum:"table,json" default:"table"`
	Limit    int       `help:"At most this many events (0: all)." default:"0"`
}

func (a *auditCmd) Run(io stdio) error {
	return a.withStore(func(ctx context.Context, _ *config.Config, st store.Store) error {
		return a.query(ctx, io, st)
	})
}

func (a *auditCmd) query(ctx context.Context, io stdio, st store.Store) error {
	evs, err := st.QueryAudit(ctx, store.AuditQuery{Since: a.Since, Until: a.Until, Name: a.Event, Role: a.Role,
		Subject: a.Subject, Decision: a.Decision, Limit: a.Limit})
	if err != nil {
		return err
	}
	if a.Format == "json" {
		for _, e := range evs {
			fmt.Fprintln(io.Out, string(e.Data))
		}
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tDECISION\tROLE\tSESSION\tSUBJECT / ERROR")
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Name, e.Decision, e.Role,
			short(e.SessionID), summary(e))
	}
	return tw.Flush()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// summary shows the subject and, for denials, the error and the one-line reason.
func summary(e store.AuditEvent) string {
	var ev struct {
		ErrorCode string `json:"errorCode"`
		Keyless   struct {
			Decision struct {
				Reason string `json:"reason"`
			} `json:"decision"`
		} `json:"keyless"`
	}
	_ = json.Unmarshal(e.Data, &ev)
	parts := []string{e.Subject}
	if ev.ErrorCode != "" {
		parts = append(parts, ev.ErrorCode)
	}
	if r := ev.Keyless.Decision.Reason; r != "" && e.Decision == store.DecisionDeny {
		parts = append(parts, r)
	}
	return strings.Join(parts, " | ")
}
