//lint:file-ignore SA1019 the issue asks for feature/s3/manager (in go.mod); its successor, feature/s3/transfermanager, is not a dependency

package s3gw_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// patternReader yields n deterministic, incompressible-looking bytes.
type patternReader struct {
	n, off int64
	x      uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		p.x = p.x*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.x >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestTransferManager200MiB uploads and downloads a 200 MiB object in parts with the
// SDK's transfer manager, over HTTPS (trailer checksums on every part) into fsbackend.
func TestTransferManager200MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MiB")
	}
	t.Parallel()
	const size = 200 << 20
	e := newEnv(t, envOptions{tls: true, fs: true})
	c := e.roleClient("deployer")
	ctx := t.Context()

	h := sha256.New()
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 8 << 20; u.Concurrency = 4 })
	out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("big/object.bin"),
		Body: io.TeeReader(&patternReader{n: size, x: 42}, h)})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if len(out.CompletedParts) != size/(8<<20) {
		t.Errorf("uploaded in %d parts, want %d", len(out.CompletedParts), size/(8<<20))
	}
	want := h.Sum(nil)

	f, err := os.Create(filepath.Join(t.TempDir(), "download"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	down := manager.NewDownloader(c, func(d *manager.Downloader) { d.PartSize = 8 << 20; d.Concurrency = 4 })
	n, err := down.Download(ctx, f, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("big/object.bin")})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if n != size {
		t.Fatalf("downloaded %d bytes, want %d", n, size)
	}
	h.Reset()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		t.Fatal("the downloaded object differs from the uploaded one")
	}
}
