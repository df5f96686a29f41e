package fsbackend

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/keyless-dev/keyless/internal/s3gw"
)

// walk returns every path under dir, relative to it.
func walk(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rootEntry is what may exist inside a root: the lock, the index, data directories and
// files named by ids.
var rootEntry = regexp.MustCompile(`^(\.|LOCK|index\.db(-wal|-shm)?|data|data/[0-9a-f]{2}|data/([0-9a-f]{2})/[0-9a-f]{32})$`)

func TestPathSafety(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outer := t.TempDir()
	root := filepath.Join(outer, "deep", "objects")
	b := openAt(t, root)
	for _, name := range []string{"b", "..", "../escape", "/abs"} {
		if err := b.CreateBucket(ctx, name); err != nil {
			t.Fatalf("CreateBucket(%q): %v", name, err)
		}
	}
	before := walk(t, outer)

	hostile := []string{
		"../x", "a/../../b", "../../../../../../../../tmp/pwned", "%2e%2e/", "%2e%2e%2f%2e%2e%2fx",
		"/abs", "/etc/passwd", "..\\..\\windows", "./", ".", "..", "a/./b/../c", "~/x", "$HOME/x",
		strings.Repeat("../", 341) + "x", strings.Repeat("a", 1024), strings.Repeat("/", 1024),
		"data/00/" + strings.Repeat("0", 32), "index.db", "LOCK",
	}
	for _, bucket := range []string{"b", "..", "../escape", "/abs"} {
		for i, key := range hostile {
			data := []byte(bucket + "|" + key)
			put(t, b, bucket, key, data)
			if _, got := get(t, b, bucket, key, nil); !bytes.Equal(got, data) {
				t.Errorf("%q/%q read back %q", bucket, key, got)
			}
			if _, err := b.CopyObject(ctx, bucket, key, bucket, hostile[(i+1)%len(hostile)], nil, s3gw.CopyOptions{}); err != nil {
				t.Errorf("CopyObject(%q): %v", key, err)
			}
			uid, err := b.CreateMultipartUpload(ctx, bucket, key, s3gw.Metadata{})
			if err != nil {
				t.Fatal(err)
			}
			pi, err := b.UploadPart(ctx, bucket, key, uid, 1, bytes.NewReader(data), s3gw.PartOptions{Size: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.CompleteMultipartUpload(ctx, bucket, key, uid, []s3gw.CompletedPart{{Number: 1, ETag: pi.ETag}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("nothing outside the root was created or changed", func(t *testing.T) {
		var after []string
		for _, p := range walk(t, outer) {
			if p != "deep/objects" && !strings.HasPrefix(p, "deep/objects/") {
				after = append(after, p)
			}
		}
		var wantOutside []string
		for _, p := range before {
			if p != "deep/objects" && !strings.HasPrefix(p, "deep/objects/") {
				wantOutside = append(wantOutside, p)
			}
		}
		if diff := cmp.Diff(wantOutside, after); diff != "" {
			t.Errorf("paths outside the root (-before +after):\n%s", diff)
		}
	})
	t.Run("inside the root there are only the lock, the index and id-named data files", func(t *testing.T) {
		for _, p := range walk(t, root) {
			if m := rootEntry.FindStringSubmatch(filepath.ToSlash(p)); m == nil || (m[3] != "" && !strings.HasPrefix(filepath.Base(p), m[3])) {
				t.Errorf("unexpected path in root: %q", p)
			}
		}
	})
	t.Run("every hostile key lists back verbatim", func(t *testing.T) {
		res, err := b.ListObjects(ctx, "b", s3gw.ListQuery{MaxKeys: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range res.Objects {
			got = append(got, o.Key)
		}
		want := append([]string(nil), hostile...)
		sortBinary(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
	})
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newTestBackend(t)
	put(t, b, "b", "ok", []byte("x"))
	uid, err := b.CreateMultipartUpload(ctx, "b", "ok", s3gw.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name string
		key  string
	}{
		{"a key of 1025 bytes", strings.Repeat("k", 1025)},
		{"a key of 1023 bytes and a two-byte rune", strings.Repeat("k", 1023) + "é"},
		{"a key with NUL", "a\x00b"},
		{"a key that is only NUL", "\x00"},
		{"a key with invalid UTF-8", "a\xffb"},
		{"an empty key", ""},
	}
	for _, k := range keys {
		calls := map[string]func() error{
			"PutObject": func() error {
				_, err := b.PutObject(ctx, "b", k.key, strings.NewReader("x"), s3gw.PutOptions{Size: 1})
				return err
			},
			"GetObject":    func() error { _, _, err := b.GetObject(ctx, "b", k.key, nil); return err },
			"HeadObject":   func() error { _, err := b.HeadObject(ctx, "b", k.key); return err },
			"DeleteObject": func() error { return b.DeleteObject(ctx, "b", k.key) },
			"CopyObject to it": func() error {
				_, err := b.CopyObject(ctx, "b", "ok", "b", k.key, nil, s3gw.CopyOptions{})
				return err
			},
			"CopyObject from it": func() error {
				_, err := b.CopyObject(ctx, "b", k.key, "b", "ok2", nil, s3gw.CopyOptions{})
				return err
			},
			"CreateMultipartUpload": func() error {
				_, err := b.CreateMultipartUpload(ctx, "b", k.key, s3gw.Metadata{})
				return err
			},
			"UploadPart": func() error {
				_, err := b.UploadPart(ctx, "b", k.key, uid, 1, strings.NewReader("x"), s3gw.PartOptions{Size: 1})
				return err
			},
			"UploadPartCopy from it": func() error {
				_, err := b.UploadPartCopy(ctx, "b", "ok", uid, 1, "b", k.key, nil)
				return err
			},
		}
		for op, call := range calls {
			t.Run(op+" refuses "+k.name, func(t *testing.T) {
				if err := call(); !errors.Is(err, s3gw.ErrInvalidKey) {
					t.Errorf("got %v, want ErrInvalidKey", err)
				}
			})
		}
	}
	t.Run("a key of exactly 1024 bytes with multi-byte runes is accepted", func(t *testing.T) {
		key := strings.Repeat("k", 1022) + "é"
		put(t, b, "b", key, []byte("y"))
		if _, got := get(t, b, "b", key, nil); string(got) != "y" {
			t.Errorf("read back %q", got)
		}
	})
}

// FuzzKeys: any key is either refused with ErrInvalidKey (and then is not 1..1024 bytes
// of UTF-8 without NUL) or round-trips byte for byte; nothing appears outside the root.
func FuzzKeys(f *testing.F) {
	for _, k := range legalKeys {
		f.Add(k)
	}
	for _, k := range []string{"../x", "a/../../b", "%2e%2e/", "/abs", "a\x00b", "\xff", "", strings.Repeat("k", 1025)} {
		f.Add(k)
	}
	outer := f.TempDir()
	b := openAt(f, filepath.Join(outer, "objects"))
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "b"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		data := []byte("v:" + key)
		_, err := b.PutObject(ctx, "b", key, bytes.NewReader(data), s3gw.PutOptions{Size: int64(len(data))})
		legal := key != "" && len(key) <= 1024 && utf8.ValidString(key) && !strings.ContainsRune(key, 0)
		switch {
		case err != nil && !(errors.Is(err, s3gw.ErrInvalidKey) && !legal):
			t.Fatalf("PutObject(%q): %v (legal %v)", key, err, legal)
		case err == nil && !legal:
			t.Fatalf("PutObject(%q) accepted an illegal key", key)
		case err == nil:
			info, r, err := b.GetObject(ctx, "b", key, nil)
			if err != nil {
				t.Fatalf("GetObject(%q): %v", key, err)
			}
			got, _ := io.ReadAll(r)
			_ = r.Close()
			if info.Key != key || !bytes.Equal(got, data) {
				t.Fatalf("%q read back as %q: %q", key, info.Key, got)
			}
		}
		entries, err := os.ReadDir(outer)
		if err != nil || len(entries) != 1 || entries[0].Name() != "objects" {
			t.Fatalf("outside the root: %v %v", entries, err)
		}
	})
}
