package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyless-dev/keyless/internal/policy"
)

// policyCmd holds the offline policy tools.
type policyCmd struct {
	Validate policyValidateCmd `cmd:"" help:"Check a policy document; exit 1 and list every problem if it is invalid."`
	Lint     policyLintCmd     `cmd:"" help:"Find risky or broken trust-policy patterns; exit 1 when an error-level finding exists."`
	Eval     policyEvalCmd     `cmd:"" help:"Decide a request against policies and print {\"decision\": ...} as JSON."`
	Explain  policyExplainCmd  `cmd:"" help:"Decide a request and explain, statement by statement, why."`
}

type policyValidateCmd struct {
	Kind string `enum:"auto,trust,identity,session,resource" default:"auto" help:"Policy kind (${enum}); auto is trust when a statement names a Principal."`
	File string `arg:"" help:"Policy document (JSON), or - for standard input."`
}

type policyLintCmd struct {
	Format                string   `enum:"text,json" default:"text" help:"Output format (${enum})."`
	Kind                  string   `enum:"auto,trust,identity,session,resource" default:"auto" help:"Policy kind (${enum})."`
	AWSCompatibleKeysOnly bool     `name:"aws-compatible-keys-only" help:"Treat condition keys that AWS does not provide as errors."`
	Files                 []string `arg:"" help:"Policy documents (JSON)."`
}

// policyInputs are the inputs eval and explain share.
type policyInputs struct {
	Policy        []string `required:"" sep:"none" placeholder:"FILE" help:"Policy document; repeat for several (they are evaluated together)."`
	SessionPolicy []string `sep:"none" placeholder:"FILE" help:"Session policy; the request must be allowed by --policy and by these."`
	Request       string   `required:"" placeholder:"FILE" help:"Request file: {\"principal\", \"action\", \"resource\", \"conditionKeys\"}."`
	Kind          string   `enum:"auto,trust,identity,resource" default:"auto" help:"Kind of the --policy documents (${enum})."`
}

type policyEvalCmd struct {
	policyInputs
	Trace bool `help:"Include the full trace in the JSON output."`
}

type policyExplainCmd struct {
	policyInputs
	Format string `enum:"text,json" default:"text" help:"Output format (${enum})."`
}

// readInput reads a file, or standard input for "-".
func readInput(name string, in io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(in)
	}
	return os.ReadFile(name)
}

// kindFor resolves a --kind flag for doc.
func kindFor(flag string, doc *policy.Document) (policy.Kind, error) {
	if flag == "auto" {
		return doc.DetectKind(), nil
	}
	return policy.ParseKind(flag)
}

func (c *policyValidateCmd) Run(io stdio) error {
	data, err := readInput(c.File, io.In)
	if err != nil {
		return badInput("%v", err)
	}
	doc, err := policy.Parse(data)
	if err != nil {
		printProblems(io.Out, c.File, err)
		return exitStatus(1)
	}
	kind, err := kindFor(c.Kind, doc)
	if err != nil {
		return badInput("%v", err)
	}
	if errs := doc.Validate(kind); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(io.Out, "%s: %v\n", c.File, e)
		}
		return exitStatus(1)
	}
	plural := "s"
	if len(doc.Statements) == 1 {
		plural = ""
	}
	fmt.Fprintf(io.Out, "%s: valid %s policy (%d statement%s)\n", c.File, kind, len(doc.Statements), plural)
	return nil
}

// printProblems prints a Parse error: one line per problem.
func printProblems(w io.Writer, file string, err error) {
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		fmt.Fprintf(w, "%s: %v\n", file, err)
		return
	}
	for _, p := range ve.Problems {
		fmt.Fprintf(w, "%s: %v\n", file, p)
	}
}

// fileFinding is a lint finding of one file, as printed by --format json.
type fileFinding struct {
	File string `json:"file"`
	policy.Finding
}

func (c *policyLintCmd) Run(io stdio) error {
	var all []fileFinding
	for _, file := range c.Files {
		findings, err := c.lintFile(file, io.In)
		if err != nil {
			return err
		}
		for _, f := range findings {
			all = append(all, fileFinding{File: file, Finding: f})
		}
		if c.Format == "text" {
			if len(findings) == 0 {
				fmt.Fprintf(io.Out, "%s: no findings\n", file)
			}
			for _, f := range findings {
				fmt.Fprintf(io.Out, "%s: %s\n", file, f)
			}
		}
	}
	if c.Format == "json" {
		if all == nil {
			all = []fileFinding{}
		}
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	}
	for _, f := range all {
		if f.Severity == policy.SeverityError {
			return exitStatus(1)
		}
	}
	return nil
}

// lintFile lints one file; a document that does not parse or validate yields one
// error-level "invalid-policy" finding per problem.
func (c *policyLintCmd) lintFile(file string, in io.Reader) ([]policy.Finding, error) {
	data, err := readInput(file, in)
	if err != nil {
		return nil, badInput("%v", err)
	}
	invalid := func(p policy.Problem) policy.Finding {
		return policy.Finding{Rule: "invalid-policy", Severity: policy.SeverityError, Statement: p.Statement, Sid: p.Sid,
			Message: p.Error(), Fix: "run keyless policy validate and fix the document"}
	}
	doc, err := policy.Parse(data)
	if err != nil {
		var ve *policy.ValidationError
		if !errors.As(err, &ve) {
			return []policy.Finding{invalid(policy.Problem{Statement: -1, Message: err.Error()})}, nil
		}
		var out []policy.Finding
		for _, p := range ve.Problems {
			out = append(out, invalid(p))
		}
		return out, nil
	}
	kind, err := kindFor(c.Kind, doc)
	if err != nil {
		return nil, badInput("%v", err)
	}
	var out []policy.Finding
	for _, e := range doc.Validate(kind) {
		var p policy.Problem
		if errors.As(e, &p) {
			out = append(out, invalid(p))
		}
	}
	return append(out, policy.Lint(doc, policy.LintOptions{Kind: kind, AWSCompatibleKeysOnly: c.AWSCompatibleKeysOnly})...), nil
}

// load compiles the policies and decodes the request; any problem is bad input (exit 2).
func (in *policyInputs) load(stdin io.Reader) (identity, session []*policy.Policy, req *policy.Request, err error) {
	compile := func(file, kindFlag string) (*policy.Policy, error) {
		data, err := readInput(file, stdin)
		if err != nil {
			return nil, badInput("%v", err)
		}
		doc, err := policy.Parse(data)
		if err != nil {
			return nil, badInput("%s: %v", file, err)
		}
		kind, err := kindFor(kindFlag, doc)
		if err != nil {
			return nil, badInput("%v", err)
		}
		p, err := policy.Compile(doc, kind)
		if err != nil {
			return nil, badInput("%s: %v", file, err)
		}
		return p.Named(file), nil
	}
	for _, f := range in.Policy {
		p, err := compile(f, in.Kind)
		if err != nil {
			return nil, nil, nil, err
		}
		identity = append(identity, p)
	}
	for _, f := range in.SessionPolicy {
		p, err := compile(f, "session")
		if err != nil {
			return nil, nil, nil, err
		}
		session = append(session, p)
	}
	data, err := readInput(in.Request, stdin)
	if err != nil {
		return nil, nil, nil, badInput("%v", err)
	}
	req, err = policy.DecodeRequest(data)
	if err != nil {
		return nil, nil, nil, badInput("%s: %v", in.Request, err)
	}
	return identity, session, req, nil
}

// evalOutput is what `keyless policy eval` prints.
type evalOutput struct {
	Decision  policy.Decision       `json:"decision"`
	Reason    string                `json:"reason"`
	DecidedBy []policy.StatementRef `json:"decidedBy,omitempty"`
	Trace     *policy.Trace         `json:"trace,omitempty"`
}

func (c *policyEvalCmd) Run(io stdio) error {
	identity, session, req, err := c.load(io.In)
	if err != nil {
		return err
	}
	d, tr := policy.ExplainWithSession(req, identity, session)
	out := evalOutput{Decision: d, Reason: tr.Reason, DecidedBy: tr.DecidedBy}
	if c.Trace {
		out.Trace = tr
	}
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (c *policyExplainCmd) Run(io stdio) error {
	identity, session, req, err := c.load(io.In)
	if err != nil {
		return err
	}
	_, tr := policy.ExplainWithSession(req, identity, session)
	if c.Format == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(tr)
	}
	_, err = io.Out.Write([]byte(tr.Text()))
	return err
}
