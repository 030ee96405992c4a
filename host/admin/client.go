package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/torpor-dev/torpor/host"
)

// APIError is an error answer from the admin API: its HTTP status and the
// server's message.
type APIError struct {
	Status  int
	Message string
}

// Error reads like "403 forbidden: wrong admin token".
func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, strings.ToLower(http.StatusText(e.Status)), e.Message)
}

// Client calls a host's admin API. It is safe for concurrent use. Every
// method's error is an *APIError when the server answered with an error, and
// a transport error (wrapped in *url.Error) when it could not be reached.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client for the admin API at baseURL (such as
// "http://127.0.0.1:8444") that sends token as its bearer token. A nil
// httpClient means http.DefaultClient; bound calls with their contexts.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: httpClient}
}

// UploadPlugin uploads wasm as a version of the plugin name and makes it
// active. created is false when name already had these bytes.
func (c *Client) UploadPlugin(ctx context.Context, name string, wasm []byte) (p Plugin, created bool, err error) {
	status, err := c.do(ctx, http.MethodPost, "/v1/plugins/"+url.PathEscape(name), nil, "application/wasm", bytes.NewReader(wasm), &p)
	return p, status == http.StatusCreated, err
}

// Plugins lists the active version of every plugin.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	var out PluginList
	_, err := c.do(ctx, http.MethodGet, "/v1/plugins", nil, "", nil, &out)
	return out.Plugins, err
}

// PluginVersions lists every stored version of one plugin, oldest first.
func (c *Client) PluginVersions(ctx context.Context, name string) (PluginVersions, error) {
	var out PluginVersions
	_, err := c.do(ctx, http.MethodGet, "/v1/plugins/"+url.PathEscape(name), nil, "", nil, &out)
	return out, err
}

// RemovePlugin removes every version of a plugin. Without force the host
// refuses (409) while any of its objects is live or connected.
func (c *Client) RemovePlugin(ctx context.Context, name string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	_, err := c.do(ctx, http.MethodDelete, "/v1/plugins/"+url.PathEscape(name), q, "", nil, nil)
	return err
}

// Objects lists one page of objects; pass the result's Next as f.After for
// the next page. A zero Limit means the server's default (100).
func (c *Client) Objects(ctx context.Context, f host.ObjectFilter) (ObjectList, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("plugin", f.Plugin)
	set("state", string(f.State))
	set("after", f.After)
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out ObjectList
	_, err := c.do(ctx, http.MethodGet, "/v1/objects", q, "", nil, &out)
	return out, err
}

// Object describes one object in full.
func (c *Client) Object(ctx context.Context, id host.ObjectID) (ObjectDetail, error) {
	var out ObjectDetail
	_, err := c.do(ctx, http.MethodGet, objectPath(id), nil, "", nil, &out)
	return out, err
}

// Evict hibernates an object now; with req.Close it also closes its sockets.
func (c *Client) Evict(ctx context.Context, id host.ObjectID, req EvictRequest) (EvictResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return EvictResult{}, err
	}
	var out EvictResult
	_, err = c.do(ctx, http.MethodPost, objectPath(id)+"/evict", nil, "application/json", bytes.NewReader(body), &out)
	return out, err
}

// Hosts lists the hosts serving objects.
func (c *Client) Hosts(ctx context.Context) ([]HostStatus, error) {
	var out HostList
	_, err := c.do(ctx, http.MethodGet, "/v1/hosts", nil, "", nil, &out)
	return out.Hosts, err
}

// Drain starts moving the named member's objects to the others.
func (c *Client) Drain(ctx context.Context, name string) (HostStatus, error) {
	var out HostStatus
	_, err := c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(name)+"/drain", nil, "", nil, &out)
	return out, err
}

func objectPath(id host.ObjectID) string {
	return "/v1/objects/" + url.PathEscape(id.Plugin) + "/" + url.PathEscape(id.Name)
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// do sends one request and decodes a 2xx answer into out (if not nil). It
// returns the status, and an *APIError for any other answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, out any) (int, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, apiError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// apiError reads an error answer. A body that is not ours (a proxy's page,
// say) becomes the message as text, shortened.
func apiError(resp *http.Response) *APIError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err == nil && eb.Error != "" {
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	msg := strings.Join(strings.Fields(string(b)), " ")
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	if msg == "" {
		msg = "no message (is this a torpor admin address?)"
	} else {
		msg = "unexpected answer (is this a torpor admin address?): " + msg
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}
