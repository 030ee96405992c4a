package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/torpor-dev/torpor/internal/testlog"
)

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "torpor.json")
	os.WriteFile(config, []byte(`{"idle": "30s", "prewarm": 5, "origins": ["https://a.example", "https://b.example"], "mailbox": 7}`), 0o644)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*serveSettings) string
	}{
		{"defaults", nil, nil, func(s *serveSettings) string {
			if s.Host.Idle != 10*time.Second || s.Listen != ":8443" || s.DataDir != "./torpor-data" {
				return "defaults not applied"
			}
			return ""
		}},
		{"file over default", []string{"--config", config}, nil, func(s *serveSettings) string {
			if s.Host.Idle != 30*time.Second || s.Host.Prewarm != 5 || len(s.Origins) != 2 {
				return "file values not applied"
			}
			return ""
		}},
		{"env over file", []string{"--config", config}, map[string]string{"TORPOR_IDLE": "45s"}, func(s *serveSettings) string {
			if s.Host.Idle != 45*time.Second || s.Host.Prewarm != 5 {
				return "env did not win over the file"
			}
			return ""
		}},
		{"flag over env", []string{"--config", config, "--idle", "1m"}, map[string]string{"TORPOR_IDLE": "45s", "TORPOR_MAILBOX": "9"}, func(s *serveSettings) string {
			if s.Host.Idle != time.Minute || s.Host.Mailbox != 9 {
				return "flag did not win over env"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serveSettings
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			s.bindFlags(fs)
			var cfg string
			fs.StringVar(&cfg, "config", "", "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := resolve(fs, cfg, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(&s); msg != "" {
				t.Fatalf("%s: %+v", msg, s)
			}
		})
	}
}

func TestSettingsErrorsNameTheCause(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"idle": "30s", "idel": "5s"}`), 0o644)
	notJSON := filepath.Join(dir, "not.json")
	os.WriteFile(notJSON, []byte(`idle = 30s`), 0o644)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown key", []string{"--config", bad}, nil, "unknown setting idel"},
		{"not JSON", []string{"--config", notJSON}, nil, "not a JSON object"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.json")}, nil, "config file"},
		{"bad env value", nil, map[string]string{"TORPOR_IDLE": "soon"}, `TORPOR_IDLE="soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serveSettings
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			s.bindFlags(fs)
			var cfg string
			fs.StringVar(&cfg, "config", "", "")
			fs.Parse(tt.args)
			err := resolve(fs, cfg, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
	s := serveSettings{TLSCert: "a.pem", LogFormat: "text", LogLevel: "info"}
	if err := s.validate(); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("cert without key: %v", err)
	}
}

// A certificate replaced on disk is served from the next handshake on,
// without a restart; a broken replacement keeps the old one.
func TestCertReload(t *testing.T) {
	log := testlog.Discard()
	a := t.TempDir()
	certA, keyA, err := ensureDevCert(a, log)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newCertReloader(certA, keyA, log)
	if err != nil {
		t.Fatal(err)
	}
	r.checkEvery = 0
	first, _ := r.GetCertificate(&tls.ClientHelloInfo{})

	b := t.TempDir()
	certB, keyB, err := ensureDevCert(b, log)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	for _, pair := range [][2]string{{certB, certA}, {keyB, keyA}} {
		data, _ := os.ReadFile(pair[0])
		writeFileAtomic(pair[1], data, 0o600)
		os.Chtimes(pair[1], later, later)
	}
	second, _ := r.GetCertificate(&tls.ClientHelloInfo{})
	if string(second.Certificate[0]) == string(first.Certificate[0]) {
		t.Fatal("the new certificate was not picked up")
	}
	os.WriteFile(certA, []byte("garbage"), 0o644)
	evenLater := later.Add(time.Minute)
	os.Chtimes(certA, evenLater, evenLater)
	third, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || string(third.Certificate[0]) != string(second.Certificate[0]) {
		t.Fatalf("a broken certificate replaced the good one (err %v)", err)
	}
}
