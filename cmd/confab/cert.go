package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runCert writes a self-signed certificate and key for trials on a LAN:
//
//	confab cert -host 192.168.1.10[,name.lan] [-out DIR] [-days 365]
//
// Browsers warn about it once; it is not for production.
func runCert(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("confab cert", flag.ContinueOnError)
	flags.SetOutput(stderr)
	hosts := flags.String("host", "", "comma-separated IP addresses and host names the certificate is for (localhost is always added)")
	out := flags.String("out", ".", "directory for cert.pem and key.pem")
	days := flags.Int("days", 365, "validity in days")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	certPEM, keyPEM, err := selfSigned(strings.Split(*hosts, ","), time.Duration(*days)*24*time.Hour, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "confab cert: %v\n", err)
		return 1
	}
	certPath, keyPath := filepath.Join(*out, "cert.pem"), filepath.Join(*out, "key.pem")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		fmt.Fprintf(stderr, "confab cert: %v\n", err)
		return 1
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		fmt.Fprintf(stderr, "confab cert: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s\nrun: CONFAB_HTTP_TLS_CERT=%s CONFAB_HTTP_TLS_KEY=%s confab\n", certPath, keyPath, certPath, keyPath)
	return 0
}

// selfSigned returns a PEM certificate and PKCS#8 key (ECDSA P-256) valid
// for hosts, localhost and 127.0.0.1.
func selfSigned(hosts []string, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Confab self-signed"}, CommonName: "confab"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}
