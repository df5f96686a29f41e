package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// traceLike stands for a policy trace: a type AppendJSON leaves to encoding/json.
type traceLike struct {
	Statement int      `json:"statement"`
	Matched   []string `json:"matched,omitempty"`
}

func TestAppendJSONWritesWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	withSession := sampleEvent(3)
	withSession.UserIdentity = UserIdentity{Type: "AssumedRole", PrincipalID: "AROA:s", SessionContext: &SessionContext{SourceIdentity: "me"}}
	withSession.UserIdentity.SessionContext.SessionIssuer.Type = "Role"
	denied := stsEvent(4)
	denied.ErrorCode, denied.ErrorMessage = "AccessDenied", `Not authorized <because> "statement 0" & more`
	denied.ResponseElements = nil
	denied.Keyless.Decision = &Decision{Effect: Deny, Reason: "trust", Trace: traceLike{Statement: 1, Matched: []string{"a"}}}
	tagged := stsEvent(5)
	tagged.RequestParameters["principalTags"] = map[string]string{"b": "2", "a": "1\u2028\x00\xff"}
	tagged.RequestParameters["transitiveTagKeys"] = []string{"a"}
	tagged.RequestParameters["durationSeconds"] = 900
	tagged.RequestParameters["nothing"] = nil
	tagged.RequestParameters["flag"] = true
	tagged.RequestParameters["big"] = int64(1) << 40
	tagged.RequestParameters["ratio"] = 0.5
	tagged.Resources = []Resource{{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::b/k"}, {AccountID: "1", Type: "t", ARN: "a"}}
	empty := New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), SourceS3, "GetObject", "", "", "")
	empty.Keyless.Role = ""
	tests := []struct {
		name string
		e    *Event
	}{
		{"an allowed AssumeRoleWithWebIdentity event", stsEvent(1)},
		{"a denial with a trace and characters to escape", denied},
		{"tags, numbers, booleans, nulls and odd unicode", tagged},
		{"an S3 event of a session", withSession},
		{"an event with nothing but its envelope", empty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.e.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("AppendJSON (-encoding/json +got):\n%s", diff)
			}
		})
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, seed := range []string{"", "plain", `"quoted" \ back`, "<html>&amp;", "\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029", "é😀"} {
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		e := stsEvent(1)
		e.UserAgent, e.ErrorMessage, e.Keyless.Role = s, s, s
		e.RequestParameters[key] = s
		e.RequestParameters["tags"] = map[string]string{key: s}
		e.ResponseElements["list"] = []string{s, key}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != string(got) {
			t.Fatalf("AppendJSON differs from encoding/json:\n%s\n%s", want, got)
		}
	})
}

func TestEventIDsAreTimeOrderedUUIDs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var ids []string
	for _, at := range []time.Time{t0, t0, t0.Add(time.Millisecond), t0.Add(time.Hour)} {
		ids = append(ids, New(at, SourceSTS, "AssumeRoleWithWebIdentity", "r", "", "").EventID)
	}
	for i, id := range ids {
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7' || id[18] != '-' || !strings.ContainsRune("89ab", rune(id[19])) || id[23] != '-' {
			t.Errorf("event id %q is not a version 7 UUID", id)
		}
		if i > 0 && id == ids[i-1] {
			t.Errorf("two events got the id %q", id)
		}
		if i >= 2 && id <= ids[i-1] {
			t.Errorf("id %q of a later event sorts before %q", id, ids[i-1])
		}
	}
	if ids[0][:13] != "01a2272d-2600" {
		t.Errorf("id %q does not start with the event time in milliseconds", ids[0])
	}
}
