package config

import (
	"fmt"
	"path/filepath"
)

// Dev defaults (PRODUCT.md): what `keylessd` with no arguments serves.
const (
	DevAccountID = "123456789012"
	DevOrg       = "f42c1b5a-3f1a-4d6b-8a1c-9c1a9a1b2c3d"
	DevRole      = "CircleCI-OIDC-Role"
	DevBucket    = "my-static-website-bucket"
	DevListen    = "127.0.0.1:8700"
)

// Dev returns the dev server's configuration, rooted at dir (data in dir/keyless-data):
// an issuer for the dev org, a provider trusting it, a role whose trust policy admits
// `main` of the dev org's projects, and a bucket that role may deploy to. listen may be
// empty for the default address.
func Dev(dir, listen string) (*Config, error) {
	if listen == "" {
		listen = DevListen
	}
	publicURL := "http://" + listen
	providerHost := listen + "/-/oidc/org/" + DevOrg
	trust := fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "CircleCIMainBranchOfDevOrg",
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::%[1]s:oidc-provider/%[2]s"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
      "StringEquals": {"%[2]s:aud": "%[3]s"},
      "StringLike": {"%[2]s:sub": "org/%[3]s/project/*/user/*/vcs-origin/*/vcs-ref/refs/heads/main"}
    }
  }]
}`, DevAccountID, providerHost, DevOrg)
	deploy := fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ListTheSiteBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
     "Resource": "arn:aws:s3:::%[1]s"},
    {"Sid": "WriteTheSite", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": "arn:aws:s3:::%[1]s/*"}
  ]
}`, DevBucket)
	y := fmt.Sprintf(`account_id: %q
region: us-east-1
listen: %q
public_url: %q
data_dir: ./keyless-data
dev: true
issuer:
  enabled: true
  orgs: [%q]
providers:
  - url: %q
    client_ids: [%q]
roles:
  - name: %s
    max_session_duration: 1h
    trust_policy: %q
    policies:
      deploy-site: %q
buckets: [%s]
`, DevAccountID, listen, publicURL, DevOrg, publicURL+"/-/oidc/org/"+DevOrg, DevOrg, DevRole, trust, deploy, DevBucket)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return Parse([]byte(y), abs)
}
