package assembly

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/config"
)

// TestSpecsAreTheFiveServices: the registry names every service once, in
// config.ServiceNames' order (the user service first: the others may need
// its verifier), and Lookup finds each.
func TestSpecsAreTheFiveServices(t *testing.T) {
	var names []string
	for _, s := range Specs() {
		names = append(names, s.Name)
		if got, ok := Lookup(s.Name); !ok || got.Name != s.Name || got.Policy == nil {
			t.Errorf("Lookup(%q) = %+v, %v", s.Name, got, ok)
		}
	}
	if !slices.Equal(names, config.ServiceNames()) {
		t.Errorf("Specs() names %v, want %v", names, config.ServiceNames())
	}
	if _, ok := Lookup("edge"); ok || Defaults("edge") != nil {
		t.Error("Lookup(edge) found a service")
	}
}

// TestDefaultsValidate: each service's settings with its flags' defaults
// pass its own check.
func TestDefaultsValidate(t *testing.T) {
	for _, name := range config.ServiceNames() {
		if err := Defaults(name).Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestValidateNamesTheFlag: a bad value fails its service's check, naming
// the flag's environment variable.
func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name, arg, want string
	}{
		{config.User, "-login-trusted-proxies=not-an-ip", "KITSHOP_LOGIN_TRUSTED_PROXIES"},
		{config.Product, "-sample-stock=-1", "KITSHOP_SAMPLE_STOCK"},
		{config.Order, "-outbox-backoff=0", "KITSHOP_OUTBOX_BACKOFF"},
		{config.Payment, "-processor-latency=-1s", "KITSHOP_PROCESSOR_LATENCY"},
		{config.Notification, "-send-latency=-1s", "KITSHOP_SEND_LATENCY"},
	} {
		spec, _ := Lookup(tc.name)
		s := spec.New()
		fs := flag.NewFlagSet(tc.name, flag.ContinueOnError)
		s.RegisterFlags(fs)
		if err := fs.Parse([]string{tc.arg}); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: Validate = %v, want an error naming %s", tc.name, tc.arg, err, tc.want)
		}
	}
}

// TestRegisterFlagsTakesEveryService: the five services' flags fit on one
// FlagSet (cmd/shop), each set where it belongs.
func TestRegisterFlagsTakesEveryService(t *testing.T) {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var all []Settings
	for _, s := range Specs() {
		all = append(all, s.New())
	}
	if err := RegisterFlags(fs, all...); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-send-latency=2s", "-processor-latency=3s", "-lease=4s"}); err != nil {
		t.Fatal(err)
	}
	if got := all[4].(*Notification).Options.SendLatency; got != 2*time.Second {
		t.Errorf("-send-latency set %s", got)
	}
	if got := all[3].(*Payment).ProcessorLatency; got != 3*time.Second {
		t.Errorf("-processor-latency set %s", got)
	}
	if got := all[2].(*Order).Options.Lease; got != 4*time.Second {
		t.Errorf("-lease set %s", got)
	}
}

// flagged is a Settings of one flag, for the RegisterFlags tests.
type flagged struct {
	name, def string
	v         string
}

func (f *flagged) RegisterFlags(fs *flag.FlagSet)  { fs.StringVar(&f.v, f.name, f.def, "a setting") }
func (f *flagged) Validate() error                 { return nil }
func (f *flagged) Prepare(string) (Builder, error) { return nil, nil }

// TestRegisterFlagsSharesOneName: a name two services define is one flag
// that sets both; different defaults, or a process flag of the same name,
// are refused with the flag's name.
func TestRegisterFlagsSharesOneName(t *testing.T) {
	a, b := &flagged{name: "timeout", def: "1s"}, &flagged{name: "timeout", def: "1s"}
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	if err := RegisterFlags(fs, a, b); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-timeout=5s"}); err != nil {
		t.Fatal(err)
	}
	if a.v != "5s" || b.v != "5s" {
		t.Errorf("-timeout=5s set %q and %q, want both 5s", a.v, b.v)
	}

	fs = flag.NewFlagSet("shop", flag.ContinueOnError)
	err := RegisterFlags(fs, &flagged{name: "timeout", def: "1s"}, &flagged{name: "timeout", def: "2s"})
	if err == nil || !strings.Contains(err.Error(), "-timeout") {
		t.Errorf("two defaults: %v, want an error naming -timeout", err)
	}

	fs = flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.String("data-dir", "", "the process's")
	if err := RegisterFlags(fs, &flagged{name: "data-dir"}); err == nil || !strings.Contains(err.Error(), "-data-dir") {
		t.Errorf("a process flag: %v, want an error naming -data-dir", err)
	}
}
