package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// testCertificate makes a self-signed certificate for 127.0.0.1 (a test fixture made
// by the test, never stored): PEM certificate and key, and a pool that trusts it.
func testCertificate(tb testing.TB) (certPEM, keyPEM []byte, roots *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyless cluster test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), roots
}

// startGatewayTLS is startGateway serving HTTPS on its one port (tls.cert_file and
// tls.key_file), with URLs, provider and clients to match.
func startGatewayTLS(tb testing.TB, s3Events string) *proc {
	tb.Helper()
	certPEM, keyPEM, roots := testCertificate(tb)
	bin := buildKeylessd(tb)
	addr := freeAddr(tb)
	cfg := strings.ReplaceAll(gatewayConfig(addr, s3Events), "http://", "https://") +
		"tls: {cert_file: ./tls.crt, key_file: ./tls.key}\n"
	p := newProc(tb, bin, "gateway-tls", addr, cfg, map[string][]byte{
		"mint-secret": []byte(mintSecret), "tls.crt": certPEM, "tls.key": keyPEM})
	p.URL, p.roots = "https://"+addr, roots
	p.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	p.start()
	return p
}

// sdkHTTPClient is an SDK HTTP client (its defaults) trusting p's certificate, with
// transport changes applied after.
func (p *proc) sdkHTTPClient(more func(*http.Transport)) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}
		if more != nil {
			more(tr)
		}
	})
}
