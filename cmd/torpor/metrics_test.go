package main

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics answers on the admin listener only with the admin token, and on
// --metrics-listen without one (and nothing else there).
func TestServeMetrics(t *testing.T) {
	s := startServer(t, t.TempDir(), "--examples=false", "--metrics-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`metrics=(http://\S+/metrics)`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no metrics URL in the start-up log:\n%s", s.stdout.String())
	}
	open := m[1]
	get := func(url, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	tests := []struct {
		name   string
		url    string
		token  string
		status int
	}{
		{"admin listener without a token", s.adminURL + "/metrics", "", http.StatusUnauthorized},
		{"admin listener with a wrong token", s.adminURL + "/metrics", "wrong", http.StatusForbidden},
		{"admin listener with the token", s.adminURL + "/metrics", s.token, http.StatusOK},
		{"metrics listener without a token", open, "", http.StatusOK},
		{"metrics listener, another path", open[:len(open)-len("/metrics")] + "/v1/plugins", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(tc.url, tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: %s, want %d", tc.url, resp.Status, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for _, name := range []string{"torpor_objects", "torpor_connections", "torpor_events_total", "go_goroutines", "process_resident_memory_bytes"} {
				if fams[name] == nil {
					t.Errorf("family %s missing", name)
				}
			}
		})
	}
}
