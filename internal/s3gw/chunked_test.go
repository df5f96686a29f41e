package s3gw_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// chunkedPut sends a PUT with a signed aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
// or its -TRAILER variant with a CRC32 trailer), the seed signed by the SDK's signer and
// the chunks signed here as AWS-WIRE 6.4 describes. corrupt flips a byte of the second
// chunk after signing.
func (e *env) chunkedPut(t *testing.T, creds aws.Credentials, key string, data []byte, chunk int, trailer, corrupt bool) (int, string) {
	t.Helper()
	mode := "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	if trailer {
		mode += "-TRAILER"
	}
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	scope := day + "/us-east-1/s3/aws4_request"
	signingKey := hmacSHA256(hmacSHA256(hmacSHA256(hmacSHA256([]byte("AWS4"+creds.SecretAccessKey), day), "us-east-1"), "s3"), "aws4_request")

	var chunks [][]byte
	for off := 0; off < len(data); off += chunk {
		chunks = append(chunks, data[off:min(off+chunk, len(data))])
	}
	chunks = append(chunks, nil) // the final, empty chunk
	// The encoded length must be known before signing: signatures are fixed-size.
	encodedLen := 0
	for _, c := range chunks {
		encodedLen += len(strconv.FormatInt(int64(len(c)), 16)) + len(";chunk-signature=") + 64 + 2 + len(c) + 2
	}
	crc := crc32.NewIEEE()
	crc.Write(data)
	trailerLine := "x-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString(crc.Sum(nil))
	if trailer {
		encodedLen += -2 + len(trailerLine) + 2 + len("x-amz-trailer-signature:") + 64 + 2 + 2
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, e.srv.URL+"/site/"+key, nil)
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	if trailer {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	req.ContentLength = int64(encodedLen)
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, mode, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")

	var body bytes.Buffer
	prev := seed
	for i, c := range chunks {
		sum := sha256.Sum256(c)
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:])
		prev = hex.EncodeToString(hmacSHA256(signingKey, sts))
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), prev)
		if corrupt && i == 1 {
			c = bytes.Clone(c)
			c[0] ^= 1
		}
		body.Write(c)
		if len(c) > 0 || !trailer {
			body.WriteString("\r\n")
		}
	}
	if trailer {
		sum := sha256.Sum256([]byte(trailerLine + "\n"))
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope + "\n" + prev + "\n" + hex.EncodeToString(sum[:])
		fmt.Fprintf(&body, "%s\r\nx-amz-trailer-signature:%s\r\n\r\n", trailerLine, hex.EncodeToString(hmacSHA256(signingKey, sts)))
	}
	if body.Len() != encodedLen {
		t.Fatalf("encoded %d bytes, computed %d", body.Len(), encodedLen)
	}
	req.Body = io.NopCloser(&body)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestSignedChunkedUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, creds := e.session("deployer", nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes: chunks of 64 KiB and the rest
	for _, tc := range []struct {
		name       string
		trailer    bool
		corrupt    bool
		wantStatus int
		wantInBody string
	}{
		{"signed chunks are accepted", false, false, 200, ""},
		{"signed chunks with a signed CRC32 trailer are accepted", true, false, 200, ""},
		{"a chunk altered after signing is refused", false, true, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"an altered chunk under a trailer is refused", true, true, 403, "<Code>SignatureDoesNotMatch</Code>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "-")
			status, body := e.chunkedPut(t, creds, key, data, 64<<10, tc.trailer, tc.corrupt)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantInBody) {
				t.Fatalf("PUT = %d %s, want %d %s", status, body, tc.wantStatus, tc.wantInBody)
			}
			_, rc, err := e.backend.GetObject(t.Context(), "site", key, nil)
			if tc.wantStatus != 200 {
				if err == nil {
					rc.Close()
					t.Fatal("a refused upload was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("stored %d bytes that differ from the %d sent", len(got), len(data))
			}
			info, _ := e.backend.HeadObject(t.Context(), "site", key)
			if _, ok := info.Checksums["CRC32"]; ok != tc.trailer {
				t.Errorf("stored checksums %v; a CRC32 is expected with the trailer only", info.Checksums)
			}
		})
	}
}
