package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/torpor-dev/torpor/host"
)

// Decoding of everything a request carries besides path values. Each parser
// is a pure function of the raw query (and body), so the fuzz tests can drive
// it directly. Unknown and repeated parameters are refused rather than
// ignored: a misspelt filter must not silently list everything.

const (
	defaultLimit = 100
	maxLimit     = 1000
	// maxEvictBody bounds the evict request body; the real one is tiny.
	maxEvictBody = 4 << 10
	// maxCloseReason is what fits a WebSocket close frame (125 bytes less
	// the 2-byte code).
	maxCloseReason = 123
	// maxAfter is the longest object id.
	maxAfter = host.MaxPluginName + 1 + host.MaxObjectName
)

// params parses r's query, allowing only the named parameters.
func params(r *http.Request, allowed ...string) (map[string]string, error) {
	return parseQuery(r.URL.RawQuery, allowed...)
}

// parseQuery parses a raw query string into one value per parameter,
// refusing malformed encodings, parameters outside allowed and repeats.
func parseQuery(raw string, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	out := make(map[string]string, len(vals))
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, badRequest("unknown query parameter %q: this endpoint takes none", k)
			}
			return nil, badRequest("unknown query parameter %q: this endpoint takes %s", k, strings.Join(allowed, ", "))
		}
		if len(vals[k]) > 1 {
			return nil, badRequest("query parameter %q is given %d times; give it once", k, len(vals[k]))
		}
		out[k] = vals[k][0]
	}
	return out, nil
}

// parseBool reads a boolean parameter; absent or empty is false.
func parseBool(name, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("%s=%q is not a boolean: use true or false", name, s)
	}
	return b, nil
}

// parseObjectFilter decodes the query of GET /v1/objects.
func parseObjectFilter(raw string) (host.ObjectFilter, error) {
	q, err := parseQuery(raw, "plugin", "state", "after", "limit")
	if err != nil {
		return host.ObjectFilter{}, err
	}
	f := host.ObjectFilter{Plugin: q["plugin"], State: host.State(q["state"]), After: q["after"], Limit: defaultLimit}
	if f.Plugin != "" {
		if err := host.ValidatePluginName(f.Plugin); err != nil {
			return host.ObjectFilter{}, badRequest("plugin filter: %v", err)
		}
	}
	switch f.State {
	case "", host.StateLive, host.StateHibernated, host.StateFailed:
	default:
		return host.ObjectFilter{}, badRequest("state=%q is not a state: use live, hibernated or failed", q["state"])
	}
	if len(f.After) > maxAfter {
		return host.ObjectFilter{}, badRequest("after is %d bytes; an object id is at most %d", len(f.After), maxAfter)
	}
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return host.ObjectFilter{}, badRequest("limit=%q is not a number from 1 to %d", s, maxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// parseEvict decodes an evict request: options in the query (close, code,
// reason) or in a JSON body (EvictRequest), not both. Code and reason need
// close; the code must be one a WebSocket endpoint may send.
func parseEvict(rawQuery string, body []byte) (host.EvictOptions, error) {
	q, err := parseQuery(rawQuery, "close", "code", "reason")
	if err != nil {
		return host.EvictOptions{}, err
	}
	var req EvictRequest
	body = bytes.TrimSpace(body)
	switch {
	case len(body) > 0 && len(q) > 0:
		return host.EvictOptions{}, badRequest("evict options came in both the query and the body: use one")
	case len(body) > 0:
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return host.EvictOptions{}, badRequest("evict body: %v; want {\"close\": true, \"code\": 4000, \"reason\": \"...\"}", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return host.EvictOptions{}, badRequest("evict body: unexpected data after the JSON object")
		}
	default:
		if req.Close, err = parseBool("close", q["close"]); err != nil {
			return host.EvictOptions{}, err
		}
		if s, ok := q["code"]; ok {
			if req.Code, err = strconv.Atoi(s); err != nil {
				return host.EvictOptions{}, badRequest("code=%q is not a number", s)
			}
		}
		req.Reason = q["reason"]
	}
	if !req.Close && (req.Code != 0 || req.Reason != "") {
		return host.EvictOptions{}, badRequest("a close code or reason needs close=true")
	}
	if req.Code != 0 && !validCloseCode(req.Code) {
		return host.EvictOptions{}, badRequest("close code %d cannot be sent: use 1000-1003, 1007-1014 or 3000-4999 (4000-4999 are for applications)", req.Code)
	}
	if len(req.Reason) > maxCloseReason {
		return host.EvictOptions{}, badRequest("close reason is %d bytes; a close frame holds at most %d", len(req.Reason), maxCloseReason)
	}
	if !utf8.ValidString(req.Reason) {
		return host.EvictOptions{}, badRequest("close reason is not valid UTF-8")
	}
	return host.EvictOptions{Close: req.Close, Code: req.Code, Reason: req.Reason}, nil
}

// validCloseCode reports whether a WebSocket endpoint may send code in a
// close frame (RFC 6455 section 7.4 and the IANA registry).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// readEvictBody reads the optional evict body, bounded by maxEvictBody.
func readEvictBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEvictBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("evict body is over %d bytes", maxEvictBody)}
	}
	if err != nil {
		return nil, badRequest("read the evict body: %v", err)
	}
	return b, nil
}
