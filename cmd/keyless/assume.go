package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/keyless-dev/keyless/internal/client"
)

// assumeFlags are the flags that assume and exec share.
type assumeFlags struct {
	TokenFile       string        `name:"token-file" placeholder:"FILE" help:"Read the job's OIDC token from FILE (read again on every renewal). Default: $CIRCLE_OIDC_TOKEN_V2, $CIRCLE_OIDC_TOKEN, then the file named by $AWS_WEB_IDENTITY_TOKEN_FILE."`
	Token           string        `placeholder:"-" help:"- reads the token from standard input (a token itself is refused: the command line is visible to other processes)."`
	RoleARN         string        `name:"role-arn" placeholder:"ARN" help:"Role to assume. Default: $AWS_ROLE_ARN."`
	RoleSessionName string        `name:"role-session-name" placeholder:"NAME" help:"Session name. Default: $AWS_ROLE_SESSION_NAME, else $CIRCLE_JOB or $CIRCLE_WORKFLOW_ID sanitised as the aws-cli orb does."`
	Duration        string        `placeholder:"DURATION" help:"Session length: seconds (3600) or a duration (1h), 15m to 12h. Default: the server's (1h)."`
	Region          string        `placeholder:"REGION" help:"Region. Default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1."`
	STSEndpoint     string        `name:"sts-endpoint" placeholder:"URL" help:"STS endpoint, e.g. http://127.0.0.1:8700. Default: $AWS_ENDPOINT_URL_STS, $AWS_ENDPOINT_URL, else AWS's."`
	S3Endpoint      string        `name:"s3-endpoint" placeholder:"URL" help:"S3 endpoint to export as AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL. Default: the STS endpoint (keyless serves both on one port)."`
	SessionPolicy   string        `name:"session-policy" placeholder:"FILE" help:"Inline session policy (JSON) that narrows the role's permissions."`
	Timeout         time.Duration `default:"2m" help:"Give up on STS after this long, retries included."`
	Quiet           bool          `short:"q" help:"No notes on standard error (errors are still printed)."`
}

// assumeCmd is `keyless assume`: the orb step, printing or storing the credentials.
type assumeCmd struct {
	Flags   assumeFlags `embed:""`
	Format  string      `placeholder:"env|json" help:"Output: env (shell export lines, the default) or json (credential_process format)."`
	Profile string      `placeholder:"NAME" help:"Write the credentials to profile NAME in the shared credentials and config files (as aws configure set does) instead of printing them."`
}

// execCmd is `keyless exec -- CMD ...`.
type execCmd struct {
	Flags   assumeFlags `embed:""`
	Refresh bool        `help:"Give CMD renewable credentials through a loopback endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) instead of fixed AWS_ACCESS_KEY_ID etc.; for commands that outlive a session."`
	Command []string    `arg:"" passthrough:"" placeholder:"CMD" help:"The command and its arguments, after --."`
}

// env is what a command needs from the process: variables, home folder and clock.
type env struct {
	getenv  func(string) string
	environ []string
	home    string
	now     func() time.Time
}

func osEnv() env {
	home, _ := os.UserHomeDir() // "" only when $HOME is unset; the paths then are relative
	return env{getenv: os.Getenv, environ: os.Environ(), home: home, now: time.Now}
}

// Run prints or stores credentials.
func (c *assumeCmd) Run(io stdio) error {
	return c.run(context.Background(), io, osEnv())
}

func (c *assumeCmd) run(ctx context.Context, io stdio, e env) error {
	format := c.Format
	if format == "" && c.Profile == "" {
		format = "env"
	}
	if format != "" && format != "env" && format != "json" {
		return badInput("--format %q: want env or json", c.Format)
	}
	if c.Profile != "" {
		if err := client.CheckProfileName(c.Profile); err != nil {
			return badInput("%v", err)
		}
	}
	cl, err := c.Flags.client(io, e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Flags.Timeout)
	defer cancel()
	creds, err := cl.Assume(ctx)
	if err != nil {
		return err
	}
	c.Flags.note(io, "assumed %s", creds)
	if c.Profile != "" {
		credPath, confPath := client.ProfileFiles(e.getenv, e.home)
		if err := client.WriteProfile(c.Profile, creds, cl.Config(), credPath, confPath); err != nil {
			return err
		}
		c.Flags.note(io, "wrote profile %s to %s and %s", c.Profile, credPath, confPath)
	}
	switch format {
	case "env":
		return client.WriteEnv(io.Out, client.EnvVars(creds, cl.Config()))
	case "json":
		return client.WriteJSON(io.Out, creds)
	}
	return nil
}

// client resolves the flags against the environment (bad input: exit 2) and prints
// the notes Resolve had.
func (f *assumeFlags) client(io stdio, e env) (*client.Client, error) {
	cfg, err := client.Resolve(client.Flags{
		TokenFile: f.TokenFile, Token: f.Token, RoleARN: f.RoleARN, RoleSessionName: f.RoleSessionName,
		Duration: f.Duration, Region: f.Region, STSEndpoint: f.STSEndpoint, S3Endpoint: f.S3Endpoint,
		SessionPolicyFile: f.SessionPolicy,
	}, e.getenv, io.In, e.now())
	if err != nil {
		return nil, usageError{err}
	}
	if f.Timeout <= 0 {
		return nil, badInput("--timeout must be positive")
	}
	for _, n := range cfg.Notes {
		f.note(io, "%s", n)
	}
	opts := client.Options{Now: e.now}
	if !f.Quiet {
		opts.Log = io.Err
	}
	return client.New(cfg, opts), nil
}

func (f *assumeFlags) note(io stdio, format string, args ...any) {
	if !f.Quiet {
		fmt.Fprintf(io.Err, "keyless: "+format+"\n", args...)
	}
}

// Run assumes the role and runs the command with the credentials, passing its exit
// status through.
func (c *execCmd) Run(io stdio) error {
	return c.run(context.Background(), io, osEnv(), func() (<-chan os.Signal, func()) {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, client.ForwardedSignals()...)
		return sigs, func() { signal.Stop(sigs) }
	})
}

// run assumes the role, then subscribes to signals (until then, Ctrl-C simply ends
// keyless, retries included) and runs the command, forwarding them. subscribe may be
// nil (no forwarding).
func (c *execCmd) run(ctx context.Context, io stdio, e env, subscribe func() (<-chan os.Signal, func())) error {
	args := c.Command
	if len(args) > 0 && args[0] == "--" { // kong passes the separator through
		args = args[1:]
	}
	if len(args) == 0 {
		return badInput("no command: keyless exec [flags] -- CMD [ARG...]")
	}
	cl, err := c.Flags.client(io, e)
	if err != nil {
		return err
	}
	cfg := cl.Config()
	assume := func(ctx context.Context) (client.Credentials, error) {
		ctx, cancel := context.WithTimeout(ctx, c.Flags.Timeout)
		defer cancel()
		return cl.Assume(ctx)
	}
	creds, err := assume(ctx)
	if err != nil {
		return err
	}
	c.Flags.note(io, "assumed %s", creds)
	set, unset := client.EnvVars(creds, cfg), []string(nil)
	if c.Refresh {
		if !cfg.Token.Renewable() {
			c.Flags.note(io, "the token from %s cannot be re-read: renewals work only until it expires", cfg.Token.Name)
		}
		log := io.Err
		if c.Flags.Quiet {
			log = nil
		}
		srv := client.NewCredentialServer(assume, creds, e.now, log)
		vars, stop, err := srv.Serve(ctx)
		if err != nil {
			return err
		}
		defer stop()
		set = append(append(vars, client.RegionVars(cfg)...), client.EndpointVars(cfg)...)
		unset = client.CredentialSourceVars()
	}
	var sigs <-chan os.Signal
	if subscribe != nil {
		var unsubscribe func()
		sigs, unsubscribe = subscribe()
		defer unsubscribe()
	}
	status, err := client.Exec(ctx, client.Command{
		Args: args, Env: client.ChildEnv(e.environ, unset, set),
		Stdin: io.In, Stdout: io.Out, Stderr: io.Err, Signals: sigs,
		KeyboardSignalsReachChild: inTerminalForeground(),
	})
	if err != nil {
		fmt.Fprintln(io.Err, "keyless:", err)
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

// inTerminalForeground reports whether keyless runs in the foreground of its controlling
// terminal (whatever its standard streams are redirected to), where Ctrl-C reaches the
// whole process group.
func inTerminalForeground() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal (CI runners, Windows)
	}
	defer tty.Close()
	return client.ForegroundOfTerminal(tty)
}
