package issuer

import (
	"slices"
	"strings"
	"time"

	"github.com/keyless-dev/keyless/internal/apierr"
)

// registered are the claims every profile carries (RFC 7519).
type registered struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"` // a JSON string, as CircleCI's is
	Iat int64  `json:"iat"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp"`
	Jti string `json:"jti"`
}

// circleCIClaims is the shape of AWS-WIRE.md 8.1 (v1 and v2 differ only in sub).
type circleCIClaims struct {
	registered
	OrgID      string   `json:"oidc.circleci.com/org-id"`
	ProjectID  string   `json:"oidc.circleci.com/project-id"`
	VCSOrigin  string   `json:"oidc.circleci.com/vcs-origin,omitempty"` // absent for custom webhooks
	VCSRef     string   `json:"oidc.circleci.com/vcs-ref,omitempty"`
	ContextIDs []string `json:"oidc.circleci.com/context-ids"` // always an array
	SSHRerun   bool     `json:"oidc.circleci.com/ssh-rerun"`
	PipelineID string   `json:"oidc.circleci.com/pipeline-id"`
	WorkflowID string   `json:"oidc.circleci.com/workflow-id"`
	JobID      string   `json:"oidc.circleci.com/job-id"`
}

// gitHubClaims are the main claims of a GitHub Actions token (AWS-WIRE.md 9.1).
type gitHubClaims struct {
	registered
	Ref               string `json:"ref"`
	RefType           string `json:"ref_type"`
	Repository        string `json:"repository"`
	RepositoryOwner   string `json:"repository_owner"`
	RepositoryID      string `json:"repository_id"`
	ActorID           string `json:"actor_id"`
	RunID             string `json:"run_id"`
	EventName         string `json:"event_name"`
	RunnerEnvironment string `json:"runner_environment"`
}

// gitLabClaims are the main claims of a GitLab CI id_token (AWS-WIRE.md 9.2).
type gitLabClaims struct {
	registered
	NamespacePath  string `json:"namespace_path"`
	ProjectPath    string `json:"project_path"`
	ProjectID      string `json:"project_id"`
	UserID         string `json:"user_id"`
	PipelineID     string `json:"pipeline_id"`
	PipelineSource string `json:"pipeline_source"`
	JobID          string `json:"job_id"`
	Ref            string `json:"ref"`
	RefType        string `json:"ref_type"`
	RefPath        string `json:"ref_path"`
	RefProtected   string `json:"ref_protected"` // GitLab sends "true"/"false" strings
}

// minted is a token's claims plus what the log may say about it.
type minted struct {
	body                   any
	iss, sub, jti, profile string
	exp                    time.Time
}

// claims validates req and builds the claims of its profile.
func (i *Issuer) claims(req MintRequest) (minted, error) {
	if err := i.check(&req); err != nil {
		return minted{}, err
	}
	ttl := time.Duration(req.TTL)
	now := i.now()
	reg := registered{
		Iss: i.URL(req.OrgID), Aud: req.Aud, Iat: now.Unix(), Nbf: now.Unix(),
		Exp: now.Unix() + int64(ttl/time.Second), Jti: apierr.NewUUID(),
	}
	var body any
	var err error
	switch req.Profile {
	case ProfileCircleCIV1, ProfileCircleCIV2:
		body, err = circleCI(reg, req)
	case ProfileGitHub:
		reg.Nbf = reg.Iat - 600 // GitHub back-dates nbf
		body, err = gitHub(reg, req)
	case ProfileGitLab:
		body, err = gitLab(reg, req)
	}
	if err != nil {
		return minted{}, err
	}
	sub := subjectOf(body)
	return minted{body: body, iss: reg.Iss, sub: sub, jti: reg.Jti, profile: req.Profile,
		exp: time.Unix(reg.Exp, 0).UTC()}, nil
}

func subjectOf(body any) string {
	switch c := body.(type) {
	case circleCIClaims:
		return c.Sub
	case gitHubClaims:
		return c.Sub
	case gitLabClaims:
		return c.Sub
	}
	return ""
}

// check validates the profile-independent fields and fills in defaults.
func (i *Issuer) check(req *MintRequest) error {
	if req.OrgID == "" {
		return badRequest("org_id is required")
	}
	if !i.orgs[req.OrgID] {
		return badRequest("unknown org_id: this issuer serves other organizations")
	}
	switch req.Profile {
	case "":
		req.Profile = ProfileCircleCIV2
	case ProfileCircleCIV2, ProfileCircleCIV1, ProfileGitHub, ProfileGitLab:
	default:
		return badRequest("unknown profile: use circleci-v2, circleci-v1, github or gitlab")
	}
	switch ttl := time.Duration(req.TTL); {
	case ttl == 0:
		req.TTL = TTL(i.ttl)
	case ttl < time.Second:
		return badRequest("ttl must be at least one second")
	case ttl > i.maxTTL:
		return badRequest("ttl %v exceeds the maximum of %v", ttl, i.maxTTL)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"project_id", &req.ProjectID}, {"user_id", &req.UserID}, {"pipeline_id", &req.PipelineID},
		{"workflow_id", &req.WorkflowID}, {"job_id", &req.JobID}} {
		if *f.v == "" {
			*f.v = apierr.NewUUID()
		}
		if strings.Contains(*f.v, "/") {
			return badRequest("%s must not contain '/': it would make the subject ambiguous", f.name)
		}
	}
	if req.Aud == "" {
		req.Aud = req.OrgID
	}
	fields := append([]string{req.OrgID, req.ProjectID, req.UserID, req.VCSOrigin, req.VCSRef,
		req.PipelineID, req.WorkflowID, req.JobID, req.Aud}, req.ContextIDs...)
	if slices.ContainsFunc(fields, hasControl) {
		return badRequest("fields must not contain control characters")
	}
	if slices.Contains(req.ContextIDs, "") {
		return badRequest("context_ids must not contain empty strings")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func circleCI(reg registered, req MintRequest) (circleCIClaims, error) {
	if slices.Contains(strings.Split(req.VCSOrigin, "/"), "vcs-ref") {
		return circleCIClaims{}, badRequest("vcs_origin must not contain a 'vcs-ref' segment: it would make the subject ambiguous")
	}
	reg.Sub = "org/" + req.OrgID + "/project/" + req.ProjectID + "/user/" + req.UserID
	// A v2 subject carries the VCS parts; without any (custom webhook triggers) it has the v1 form.
	if req.Profile == ProfileCircleCIV2 && (req.VCSOrigin != "" || req.VCSRef != "") {
		reg.Sub += "/vcs-origin/" + req.VCSOrigin + "/vcs-ref/" + req.VCSRef
	}
	ctxIDs := req.ContextIDs
	if ctxIDs == nil {
		ctxIDs = []string{}
	}
	return circleCIClaims{
		registered: reg, OrgID: req.OrgID, ProjectID: req.ProjectID,
		VCSOrigin: req.VCSOrigin, VCSRef: req.VCSRef, ContextIDs: ctxIDs, SSHRerun: req.SSHRerun,
		PipelineID: req.PipelineID, WorkflowID: req.WorkflowID, JobID: req.JobID,
	}, nil
}

func gitHub(reg registered, req MintRequest) (gitHubClaims, error) {
	repo := strings.TrimPrefix(req.VCSOrigin, "github.com/")
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/:") || strings.Contains(owner, ":") {
		return gitHubClaims{}, badRequest("for the github profile vcs_origin must be OWNER/REPO (or github.com/OWNER/REPO)")
	}
	ref := req.VCSRef
	if ref == "" {
		return gitHubClaims{}, badRequest("for the github profile vcs_ref is required (e.g. refs/heads/main)")
	}
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	if strings.Contains(ref, ":") {
		return gitHubClaims{}, badRequest("vcs_ref must not contain ':': it would make the subject ambiguous")
	}
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	reg.Sub = "repo:" + repo + ":ref:" + ref
	return gitHubClaims{
		registered: reg, Ref: ref, RefType: refType, Repository: repo, RepositoryOwner: owner,
		RepositoryID: req.ProjectID, ActorID: req.UserID, RunID: req.PipelineID,
		EventName: "push", RunnerEnvironment: "self-hosted",
	}, nil
}

func gitLab(reg registered, req MintRequest) (gitLabClaims, error) {
	path := strings.TrimPrefix(req.VCSOrigin, "gitlab.com/")
	if !strings.Contains(path, "/") || strings.Contains(path, ":") || slices.Contains(strings.Split(path, "/"), "") {
		return gitLabClaims{}, badRequest("for the gitlab profile vcs_origin must be GROUP/PROJECT (or gitlab.com/GROUP/PROJECT)")
	}
	ns := path[:strings.LastIndex(path, "/")]
	refType, short := "branch", req.VCSRef
	switch {
	case short == "":
		return gitLabClaims{}, badRequest("for the gitlab profile vcs_ref is required (e.g. main or refs/tags/v1)")
	case strings.HasPrefix(short, "refs/heads/"):
		short = strings.TrimPrefix(short, "refs/heads/")
	case strings.HasPrefix(short, "refs/tags/"):
		refType, short = "tag", strings.TrimPrefix(short, "refs/tags/")
	case strings.HasPrefix(short, "refs/"):
		return gitLabClaims{}, badRequest("for the gitlab profile vcs_ref must be a branch or a tag")
	}
	if short == "" || strings.Contains(short, ":") {
		return gitLabClaims{}, badRequest("vcs_ref must be a non-empty name without ':'")
	}
	refPath := "refs/heads/" + short
	if refType == "tag" {
		refPath = "refs/tags/" + short
	}
	reg.Sub = "project_path:" + path + ":ref_type:" + refType + ":ref:" + short
	return gitLabClaims{
		registered: reg, NamespacePath: ns, ProjectPath: path, ProjectID: req.ProjectID,
		UserID: req.UserID, PipelineID: req.PipelineID, PipelineSource: "push", JobID: req.JobID,
		Ref: short, RefType: refType, RefPath: refPath, RefProtected: "false",
	}, nil
}
