package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

// crc64NVME is the reversed CRC-64/NVME polynomial, as hash/crc64 wants it.
const crc64NVME = 0x9a6c9329ac4bc9b5

// checksumAlgorithm returns the hash constructor for a trailing checksum header name
// (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256).
func checksumAlgorithm(name string) (func() hash.Hash, bool) {
	switch name {
	case "x-amz-checksum-crc32":
		return func() hash.Hash { return crc32.NewIEEE() }, true
	case "x-amz-checksum-crc32c":
		return func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }, true
	case "x-amz-checksum-crc64nvme":
		return func() hash.Hash { return crc64.New(crc64.MakeTable(crc64NVME)) }, true
	case "x-amz-checksum-sha1":
		return sha1.New, true
	case "x-amz-checksum-sha256":
		return sha256.New, true
	}
	return nil, false
}
