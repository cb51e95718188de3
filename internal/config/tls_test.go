package config

import (
	"strings"
	"testing"
)

func TestTLSAllOrNone(t *testing.T) {
	t.Parallel()
	all := TLS{CertFile: "tls.crt", KeyFile: "tls.key", CAFile: "ca.crt"}
	for _, ok := range []TLS{{}, all} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if (TLS{}).Enabled() || !all.Enabled() || !(TLS{CAFile: "ca.crt"}).Enabled() {
		t.Error("Enabled: want true as soon as one file is set")
	}
	tests := []struct {
		name  string
		tls   TLS
		want  []string
		avoid []string
	}{
		{"cert only", TLS{CertFile: "tls.crt"},
			[]string{"-tls-cert (KITSHOP_TLS_CERT) given without -tls-key (KITSHOP_TLS_KEY), -tls-ca (KITSHOP_TLS_CA)", "all three", "plaintext"}, nil},
		{"no CA", TLS{CertFile: "tls.crt", KeyFile: "tls.key"},
			[]string{"without -tls-ca (KITSHOP_TLS_CA)"}, []string{"without -tls-key"}},
		{"blank key", TLS{CertFile: "tls.crt", KeyFile: " ", CAFile: "ca.crt"},
			[]string{"without -tls-key (KITSHOP_TLS_KEY)"}, nil},
		{"all blank", TLS{CertFile: " ", KeyFile: " ", CAFile: "\t"},
			[]string{"-tls-cert (KITSHOP_TLS_CERT), -tls-key (KITSHOP_TLS_KEY), -tls-ca (KITSHOP_TLS_CA) are blank"}, nil},
	}
	for _, tt := range tests {
		err := tt.tls.Validate()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, err, w)
			}
		}
		for _, a := range tt.avoid {
			if strings.Contains(err.Error(), a) {
				t.Errorf("%s: %q has %q", tt.name, err, a)
			}
		}
	}
}

func TestServiceValidatesTLS(t *testing.T) {
	var c Service
	fs, _ := newFlagSet(&c)
	if err := Parse(fs, []string{"-tls-ca", "ca.crt"}); err != nil {
		t.Fatal(err)
	}
	if c.TLS.CAFile != "ca.crt" {
		t.Fatalf("-tls-ca not stored: %+v", c.TLS)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "KITSHOP_TLS_CERT") {
		t.Fatalf("got %v, want an error naming KITSHOP_TLS_CERT", err)
	}
}
