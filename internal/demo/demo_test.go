package demo

import (
	"strings"
	"testing"
)

func TestDemoTellsTheAllowedAndDeniedStoryWithReasons(t *testing.T) {
	var out strings.Builder
	if err := Run(t.Context(), &out, t.TempDir()); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	story := out.String()
	for _, want := range []string{
		"allowed: arn:aws:sts::123456789012:assumed-role/CircleCI-OIDC-Role/circleci-deploy-session-demo",
		"PutObject s3://my-static-website-bucket/index.html: allowed",
		"ListObjectsV2: 3 objects in the bucket",
		"refused: AccessDenied: Access Denied",
		"refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
		"vcs-ref/refs/heads/feature-x",
		"refused: InvalidIdentityToken: Incorrect token audience",
		"revoked session",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the story does not tell %q:\n%s", want, story)
		}
	}
	if strings.Count(story, "why: ") < 5 {
		t.Errorf("every decision should come with its reason:\n%s", story)
	}
}
