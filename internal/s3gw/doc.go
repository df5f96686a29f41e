// Package s3gw is keyless's S3 gateway: it turns each HTTP request into one
// operation, authenticates it (SigV4 with a keyless session token, or an operator key),
// authorizes it with the role's permission policies intersected with the session
// policy, audits it, and passes it to a Backend.
package s3gw
