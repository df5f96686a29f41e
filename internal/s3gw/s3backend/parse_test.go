package s3backend

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParsersOfUpstreamAnswers(t *testing.T) {
	t.Parallel()
	ranges := []struct {
		in    string
		total int64
		ok    bool
	}{
		{"bytes 2-5/10", 10, true},
		{"bytes 0-0/1", 1, true},
		{"bytes */10", 10, true},
		{"bytes 2-5", 0, false},
		{"bytes 2-5/*", 0, false},
		{"bytes 2-5/-1", 0, false},
		{"", 0, false},
	}
	for _, tc := range ranges {
		t.Run("Content-Range "+strconv.Quote(tc.in)+" has total "+strconv.FormatInt(tc.total, 10), func(t *testing.T) {
			total, ok := rangeTotal(tc.in)
			if total != tc.total || ok != tc.ok {
				t.Fatalf("rangeTotal(%q) = %d, %t; want %d, %t", tc.in, total, ok, tc.total, tc.ok)
			}
		})
	}
	tags := []struct {
		in   string
		want int
	}{
		{"d41d8cd98f00b204e9800998ecf8427e", 0},
		{"9b2cf535f27731c974343645a3985328-3", 3},
		{"x-", 0},
		{"x--1", 0},
		{"x-a", 0},
	}
	for _, tc := range tags {
		t.Run("ETag "+strconv.Quote(tc.in)+" has "+strconv.Itoa(tc.want)+" parts", func(t *testing.T) {
			if got := partsCount(tc.in); got != tc.want {
				t.Fatalf("partsCount(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzRangeTotal(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes */0", "bytes 1-2/", "/", "bytes 0-1/99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		total, ok := rangeTotal(s)
		if ok && total < 0 {
			t.Fatalf("rangeTotal(%q) = %d, a negative size", s, total)
		}
		if !ok && total != 0 {
			t.Fatalf("rangeTotal(%q) refused but returned %d", s, total)
		}
	})
}

func FuzzPartsCount(f *testing.F) {
	for _, s := range []string{"abc-2", "abc", "-", "a-b-c", "x-10000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n := partsCount(s); n < 0 || (n > 0 && !strings.HasSuffix(s, strconv.Itoa(n))) {
			t.Fatalf("partsCount(%q) = %d", s, n)
		}
	})
}

// FuzzGuard checks that a guard passes a clean body through unchanged, and that of a
// body that fails or has the wrong length it never releases every byte.
func FuzzGuard(f *testing.F) {
	f.Add([]byte("hello world"), int64(11), false, uint8(3))
	f.Add([]byte("hello world"), int64(-1), true, uint8(1))
	f.Add([]byte(""), int64(0), false, uint8(0))
	f.Add([]byte("abc"), int64(5), false, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, size int64, fail bool, step uint8) {
		if size < -1 {
			size = -1
		}
		var src io.Reader = iotest.HalfReader(strings.NewReader(string(data)))
		if fail {
			src = io.MultiReader(src, iotest.ErrReader(errors.New("verification failed")))
		}
		g := newGuard(src, size)
		buf := make([]byte, int(step)+1)
		var out []byte
		var err error
		for {
			var n int
			n, err = g.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		clean := !fail && (size < 0 || size == int64(len(data)))
		switch {
		case clean && (err != io.EOF || string(out) != string(data)):
			t.Fatalf("a clean body: got %d bytes and %v, want %d bytes and EOF", len(out), err, len(data))
		case !clean && err == io.EOF:
			t.Fatalf("a failed body ended with EOF")
		case !clean && len(data) > 0 && len(out) >= len(data):
			t.Fatalf("a failed body released all %d bytes", len(out))
		case !clean && g.failure() == nil:
			t.Fatalf("a failed body has no failure")
		}
	})
}
