package admin

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/torpor-dev/torpor/host"
)

func TestParseEvict(t *testing.T) {
	tests := []struct {
		name  string
		query string
		body  string
		want  host.EvictOptions
		err   string
	}{
		{name: "nothing", want: host.EvictOptions{}},
		{name: "blank body", body: " \n", want: host.EvictOptions{}},
		{name: "empty object", body: "{}", want: host.EvictOptions{}},
		{name: "body close", body: `{"close":true}`, want: host.EvictOptions{Close: true}},
		{name: "body all", body: `{"close":true,"code":4000,"reason":"maintenance"}`, want: host.EvictOptions{Close: true, Code: 4000, Reason: "maintenance"}},
		{name: "query close", query: "close=true", want: host.EvictOptions{Close: true}},
		{name: "query all", query: "close=1&code=1000&reason=bye+now", want: host.EvictOptions{Close: true, Code: 1000, Reason: "bye now"}},
		{name: "query close false", query: "close=false", want: host.EvictOptions{}},
		{name: "both", query: "close=true", body: `{"close":true}`, err: "both the query and the body"},
		{name: "code without close", body: `{"code":4000}`, err: "needs close=true"},
		{name: "reason without close", query: "reason=x", err: "needs close=true"},
		{name: "reserved code", body: `{"close":true,"code":1006}`, err: "close code 1006 cannot be sent"},
		{name: "code out of range", query: "close=true&code=5000", err: "close code 5000"},
		{name: "code not a number", query: "close=true&code=x", err: `code="x" is not a number`},
		{name: "close not a bool", query: "close=yes", err: `close="yes" is not a boolean`},
		{name: "unknown parameter", query: "force=true", err: `unknown query parameter "force"`},
		{name: "unknown field", body: `{"clos":true}`, err: `unknown field "clos"`},
		{name: "trailing data", body: `{"close":true} {}`, err: "unexpected data after the JSON object"},
		{name: "not an object", body: `[true]`, err: "evict body"},
		{name: "wrong type", body: `{"close":"yes"}`, err: "evict body"},
		{name: "long reason", body: `{"close":true,"reason":"` + strings.Repeat("x", 124) + `"}`, err: "124 bytes"},
		{name: "invalid utf-8 reason", query: "close=true&reason=%ff", err: "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEvict(tt.query, []byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || statusOf(err) != 400 {
					t.Fatalf("err = %v, want a 400 saying %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseObjectFilter(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  host.ObjectFilter
		err   string
	}{
		{name: "defaults", want: host.ObjectFilter{Limit: 100}},
		{name: "all", query: "plugin=chat&state=failed&after=chat%2Fa&limit=1000", want: host.ObjectFilter{Plugin: "chat", State: host.StateFailed, After: "chat/a", Limit: 1000}},
		{name: "empty values", query: "plugin=&state=&after=", want: host.ObjectFilter{Limit: 100}},
		{name: "bad state", query: "state=dead", err: "not a state"},
		{name: "bad limit", query: "limit=-1", err: "from 1 to 1000"},
		{name: "limit not a number", query: "limit=ten", err: "from 1 to 1000"},
		{name: "bad plugin", query: "plugin=a/b", err: "plugin filter"},
		{name: "long after", query: "after=" + strings.Repeat("a", maxAfter+1), err: "after is"},
		{name: "unknown", query: "owner=me", err: "unknown query parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseObjectFilter(tt.query)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || statusOf(err) != 400 {
					t.Fatalf("err = %v, want a 400 saying %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// Whatever arrives, decoding either refuses it as a 400 or yields options
// the host can act on: a sendable close code, a reason that fits a close
// frame, and no code or reason without close.
func FuzzParseEvict(f *testing.F) {
	f.Add("", []byte(`{"close":true,"code":4000,"reason":"maintenance"}`))
	f.Add("close=true&code=4000&reason=x", []byte(nil))
	f.Add("close=1", []byte(" "))
	f.Add("code=%zz", []byte(`{"close":false}`))
	f.Add("", []byte(`{"close":true,"reason":"\udcff"}`))
	f.Add("", []byte(`{"close":true} x`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		opts, err := parseEvict(query, body)
		if err != nil {
			if statusOf(err) != 400 || err.Error() == "" {
				t.Fatalf("error %v maps to %d", err, statusOf(err))
			}
			return
		}
		if opts.Code != 0 && !validCloseCode(opts.Code) {
			t.Fatalf("accepted close code %d", opts.Code)
		}
		if len(opts.Reason) > maxCloseReason || !utf8.ValidString(opts.Reason) {
			t.Fatalf("accepted reason %q", opts.Reason)
		}
		if !opts.Close && (opts.Code != 0 || opts.Reason != "") {
			t.Fatalf("accepted %+v", opts)
		}
	})
}

func FuzzParseObjectFilter(f *testing.F) {
	f.Add("plugin=chat&state=live&after=chat%2Fa&limit=10")
	f.Add("limit=1001")
	f.Add("state=hibernated&state=live")
	f.Add("%")
	f.Fuzz(func(t *testing.T, query string) {
		fl, err := parseObjectFilter(query)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("error %v maps to %d", err, statusOf(err))
			}
			return
		}
		if fl.Limit < 1 || fl.Limit > maxLimit || len(fl.After) > maxAfter {
			t.Fatalf("accepted %+v", fl)
		}
		if fl.Plugin != "" && host.ValidatePluginName(fl.Plugin) != nil {
			t.Fatalf("accepted plugin %q", fl.Plugin)
		}
		switch fl.State {
		case "", host.StateLive, host.StateHibernated, host.StateFailed:
		default:
			t.Fatalf("accepted state %q", fl.State)
		}
	})
}
