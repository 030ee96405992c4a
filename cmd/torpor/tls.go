package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Dev certificate files, kept in the data dir so that a browser exception
// or a pinned fingerprint stays valid across restarts.
const (
	devCertFile = "tls/dev-cert.pem"
	devKeyFile  = "tls/dev-key.pem"
	devCertLife = 365 * 24 * time.Hour
)

// ensureDevCert returns the paths of the data dir's dev certificate,
// generating a self-signed one for localhost (and this host's name) on
// first run or when it is about to expire.
func ensureDevCert(dataDir string, log *slog.Logger) (certPath, keyPath string, err error) {
	certPath, keyPath = filepath.Join(dataDir, devCertFile), filepath.Join(dataDir, devKeyFile)
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && pair.Leaf != nil &&
		time.Until(pair.Leaf.NotAfter) > 7*24*time.Hour {
		return certPath, keyPath, nil
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "torpor dev certificate", Organization: []string{"torpor (development only)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(devCertLife),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can trust it directly as its own root
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		// Trusting a CA trusts whatever it signs: constrain it to the
		// names it serves, so its key cannot mint certificates for others.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         names,
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", fmt.Errorf("dev certificate: %w", err)
	}
	sum := sha256.Sum256(der)
	log.Info("generated a self-signed dev certificate; browsers will warn until you trust it",
		"cert", certPath, "sha256", hex.EncodeToString(sum[:]), "names", names)
	return certPath, keyPath, nil
}

// writeFileAtomic writes via a temporary file and a rename, so a reader (or
// the certificate reloader) never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// certReloader serves a certificate from files and picks up new files
// without a restart: at most once per checkEvery it compares the files'
// modification times, and on a change loads the pair. A pair that fails to
// load is logged and the previous certificate kept, so a half-finished
// renewal never takes the listener down.
type certReloader struct {
	certPath, keyPath string
	log               *slog.Logger
	checkEvery        time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certPath, keyPath string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, log: log, checkEvery: time.Second}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stamp() (time.Time, error) {
	var latest time.Time
	for _, p := range []string{r.certPath, r.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return time.Time{}, err
		}
		if fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
	}
	return latest, nil
}

func (r *certReloader) load() error {
	stamp, err := r.stamp()
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("tls certificate %s: %w", r.certPath, err)
	}
	r.mu.Lock()
	r.cert, r.modTime, r.checked = &pair, stamp, time.Now()
	r.mu.Unlock()
	return nil
}

// GetCertificate is the tls.Config hook.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	due := time.Since(r.checked) >= r.checkEvery
	if due {
		r.checked = time.Now()
	}
	cert, modTime := r.cert, r.modTime
	r.mu.Unlock()
	if due {
		if stamp, err := r.stamp(); err == nil && !stamp.Equal(modTime) {
			if err := r.load(); err != nil {
				r.log.Error("new TLS certificate does not load; keeping the previous one", "err", err)
				r.mu.Lock()
				r.modTime = stamp // report it once per change, not once per handshake
				r.mu.Unlock()
			} else {
				r.log.Info("TLS certificate reloaded", "cert", r.certPath)
				r.mu.Lock()
				cert = r.cert
				r.mu.Unlock()
			}
		}
	}
	if cert == nil {
		return nil, errors.New("no TLS certificate loaded")
	}
	return cert, nil
}
