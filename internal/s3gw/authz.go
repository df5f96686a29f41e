package s3gw

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/keyless-dev/keyless/internal/policy"
)

// Check is one IAM action on one resource that an operation needs.
type Check struct {
	Action   string
	Resource string
}

// actionTable gives, for each operation, the IAM action it needs and whether the
// resource is the object (bucket/key) or the bucket. CopyObject and UploadPartCopy also
// need s3:GetObject on their source; DeleteObjects is decided per key (s3:DeleteObject)
// and needs nothing of its own.
var actionTable = [opCount]struct {
	action string
	object bool
}{
	OpListBuckets:             {"s3:ListAllMyBuckets", false},
	OpCreateBucket:            {"s3:CreateBucket", false},
	OpDeleteBucket:            {"s3:DeleteBucket", false},
	OpHeadBucket:              {"s3:ListBucket", false},
	OpGetBucketLocation:       {"s3:GetBucketLocation", false},
	OpGetBucketVersioning:     {"s3:GetBucketVersioning", false},
	OpListObjects:             {"s3:ListBucket", false},
	OpListObjectsV2:           {"s3:ListBucket", false},
	OpListObjectVersions:      {"s3:ListBucketVersions", false},
	OpListMultipartUploads:    {"s3:ListBucketMultipartUploads", false},
	OpDeleteObjects:           {"", false},
	OpPutObject:               {"s3:PutObject", true},
	OpCopyObject:              {"s3:PutObject", true},
	OpGetObject:               {"s3:GetObject", true},
	OpHeadObject:              {"s3:GetObject", true},
	OpDeleteObject:            {"s3:DeleteObject", true},
	OpCreateMultipartUpload:   {"s3:PutObject", true},
	OpUploadPart:              {"s3:PutObject", true},
	OpUploadPartCopy:          {"s3:PutObject", true},
	OpCompleteMultipartUpload: {"s3:PutObject", true},
	OpAbortMultipartUpload:    {"s3:AbortMultipartUpload", true},
	OpListParts:               {"s3:ListMultipartUploadParts", true},
}

// Checks returns the authorizations req needs, source first for copies.
func Checks(req *Request) []Check {
	var cs []Check
	if req.CopySource != nil {
		cs = append(cs, Check{"s3:GetObject", objectARN(req.CopySource.Bucket, req.CopySource.Key)})
	}
	t := actionTable[req.Op]
	switch {
	case t.action == "":
	case req.Op == OpListBuckets:
		cs = append(cs, Check{t.action, "*"})
	case t.object:
		cs = append(cs, Check{t.action, objectARN(req.Bucket, req.Key)})
	default:
		cs = append(cs, Check{t.action, bucketARN(req.Bucket)})
	}
	return cs
}

func bucketARN(bucket string) string      { return "arn:aws:s3:::" + bucket }
func objectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

// authorizeOp checks everything the operation needs up front.
func (g *Gateway) authorizeOp(c *call) error {
	if c.req.Op == OpUnsupported {
		return errNotImplemented
	}
	for _, ch := range Checks(c.req) {
		if err := g.authorize(c, ch.Action, ch.Resource); err != nil {
			return err
		}
	}
	return nil
}

// authorize decides one action on one resource: the role's (or operator key's)
// permission policies intersected with the session policy; explicit Deny wins.
func (g *Gateway) authorize(c *call, action, resource string) error {
	identity, session, err := g.policiesOf(c)
	if err != nil {
		return err
	}
	req := &policy.Request{Action: action, Resource: resource, Context: c.keys}
	if policy.EvaluateWithSession(req, identity, session) == policy.Allow {
		return nil
	}
	_, trace := policy.ExplainWithSession(req, identity, session)
	reason := trace.Reason
	if reason == "" {
		reason = fmt.Sprintf("%s on %s is not allowed", action, resource)
	}
	d := &deniedError{reason: reason, trace: trace}
	c.denial = d
	return d
}

// policiesOf returns the caller's identity and session policies.
func (g *Gateway) policiesOf(c *call) (identity, session []*policy.Policy, err error) {
	if c.p.operator != nil {
		return c.p.operator.policies, nil, nil
	}
	s := c.p.session
	identity, ok := c.st.roles[s.RoleARN]
	if !ok {
		return nil, nil, &deniedError{reason: "the role " + s.RoleARN + " is no longer configured", err: errUnknownRole}
	}
	if s.SessionPolicy == "" {
		return identity, nil, nil
	}
	sp, err := g.sessions.get(s.SessionPolicy)
	if err != nil {
		return nil, nil, &deniedError{reason: "the session policy does not compile", err: err}
	}
	return identity, []*policy.Policy{sp}, nil
}

// policyCache keeps compiled session policies by content hash, bounded.
type policyCache struct {
	mu    sync.Mutex
	max   int
	items map[[sha256.Size]byte]*policy.Policy
}

func newPolicyCache(n int) *policyCache {
	return &policyCache{max: n, items: make(map[[sha256.Size]byte]*policy.Policy, n)}
}

func (pc *policyCache) get(doc string) (*policy.Policy, error) {
	h := sha256.Sum256([]byte(doc))
	pc.mu.Lock()
	p, ok := pc.items[h]
	pc.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.ParseAndCompile([]byte(doc), policy.KindSession)
	if err != nil {
		return nil, fmt.Errorf("compile session policy: %w", err)
	}
	p = p.Named("session-policy")
	pc.mu.Lock()
	if len(pc.items) >= pc.max {
		for k := range pc.items { // evict one arbitrary entry
			delete(pc.items, k)
			break
		}
	}
	pc.items[h] = p
	pc.mu.Unlock()
	return p, nil
}
