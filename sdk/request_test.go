package sdk

import (
	"errors"
	"reflect"
	"testing"

	"github.com/torpor-dev/torpor/abi"
)

func pairs(kv ...string) []byte {
	var b []byte
	for i := 0; i < len(kv); i += 2 {
		b = abi.AppendPair(b, []byte(kv[i]), []byte(kv[i+1]))
	}
	return b
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		info    []byte
		want    Request
		wantErr bool
	}{
		{
			name: "empty",
			info: nil,
			want: Request{Headers: map[string][]string{}},
		},
		{
			name: "full",
			info: pairs(
				abi.RequestInfoPath, "/chat/lobby",
				abi.RequestInfoQuery, "name=ann&x=1",
				abi.RequestInfoRemote, "127.0.0.1:5000",
				abi.RequestInfoObject, "chat/lobby",
				"origin", "https://example.com",
				"cookie", "a=1",
				"cookie", "b=2",
				"User-Agent", "test",
				":future", "ignored",
			),
			want: Request{
				Path:   "/chat/lobby",
				Query:  "name=ann&x=1",
				Remote: "127.0.0.1:5000",
				Object: "chat/lobby",
				Headers: map[string][]string{
					"origin":     {"https://example.com"},
					"cookie":     {"a=1", "b=2"},
					"user-agent": {"test"},
				},
			},
		},
		{name: "odd pairs", info: abi.AppendItem(nil, []byte(":path")), wantErr: true},
		{name: "truncated", info: []byte{5, 0, 0, 0, 'a'}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRequest(tt.info)
			if tt.wantErr {
				if !errors.Is(err, abi.ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestRequestHeaderAndParam(t *testing.T) {
	r := &Request{
		Query:   "name=J%C3%BCrgen+K&empty=&dup=1&dup=2",
		Headers: map[string][]string{"x-token": {"first", "second"}},
	}
	tests := []struct {
		name, got, want string
	}{
		{"header any case", r.Header("X-Token"), "first"},
		{"header missing", r.Header("origin"), ""},
		{"param unescaped", r.Param("name"), "Jürgen K"},
		{"param empty", r.Param("empty"), ""},
		{"param first of several", r.Param("dup"), "1"},
		{"param missing", r.Param("nope"), ""},
		{"leading question mark", (&Request{Query: "?a=b"}).Param("a"), "b"},
		{"malformed query keeps the rest", (&Request{Query: "bad=%zz&a=b"}).Param("a"), "b"},
		{"nil headers", (&Request{}).Header("a"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(pairs(abi.RequestInfoPath, "/a", "h", "v"))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, info []byte) {
		r, err := decodeRequest(info)
		if err != nil {
			return
		}
		_ = r.Param("name")
		_ = r.Header("origin")
	})
}
