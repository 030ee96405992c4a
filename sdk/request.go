package sdk

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/torpor-dev/torpor/abi"
)

// Request describes a client's WebSocket upgrade request, as the Connect
// handler sees it.
type Request struct {
	// Path is the URL path, for example "/chat/lobby".
	Path string
	// Query is the raw query string, without the "?".
	Query string
	// Remote is the client's address as the host saw it.
	Remote string
	// Object is the object id, "plugin/name".
	Object string
	// Headers maps lower-case header names to their values, in order.
	Headers map[string][]string
}

// Header returns the first value of the named header, matched
// case-insensitively, or "".
func (r *Request) Header(name string) string {
	if v := r.Headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Param returns the first value of the named query parameter, or "". Values
// are unescaped; a malformed query yields the parameters that parse.
func (r *Request) Param(name string) string {
	q, _ := url.ParseQuery(strings.TrimPrefix(r.Query, "?"))
	return q.Get(name)
}

// decodeRequest decodes on_connect's request info: pairs whose keys are the
// abi.RequestInfo* names and lower-case header names, one pair per value.
// Keys beginning with ':' that it does not know are ignored, for newer hosts.
func decodeRequest(info []byte) (*Request, error) {
	pairs, err := abi.DecodePairs(info)
	if err != nil {
		return nil, fmt.Errorf("decode request info: %w", err)
	}
	r := &Request{Headers: make(map[string][]string)}
	for _, p := range pairs {
		v := string(p.Value)
		switch k := string(p.Key); k {
		case abi.RequestInfoPath:
			r.Path = v
		case abi.RequestInfoQuery:
			r.Query = v
		case abi.RequestInfoRemote:
			r.Remote = v
		case abi.RequestInfoObject:
			r.Object = v
		default:
			if strings.HasPrefix(k, ":") {
				continue
			}
			k = strings.ToLower(k)
			r.Headers[k] = append(r.Headers[k], v)
		}
	}
	return r, nil
}
