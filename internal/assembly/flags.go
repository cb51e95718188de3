package assembly

import (
	"flag"
	"fmt"
)

// RegisterFlags defines the own flags of every one of settings on fs, as
// cmd/shop takes the five services' flags on its one FlagSet.
//
// A flag name is one setting across kitshop (its environment variable is
// made of the name alone, config.EnvVar): when two services define the same
// name, the one flag sets both, and their defaults must agree. A flag that
// fs defines already (a process flag such as -data-dir), or two defaults
// that differ, are an error naming the flag.
func RegisterFlags(fs *flag.FlagSet, settings ...Settings) error {
	ours := make(map[string]bool)
	var err error
	for _, s := range settings {
		own := flag.NewFlagSet("", flag.ContinueOnError)
		s.RegisterFlags(own)
		own.VisitAll(func(f *flag.Flag) {
			prev := fs.Lookup(f.Name)
			switch {
			case err != nil:
			case prev == nil:
				fs.Var(f.Value, f.Name, f.Usage)
				ours[f.Name] = true
			case !ours[f.Name]:
				err = fmt.Errorf("flag -%s: defined by the process and by a service", f.Name)
			case prev.DefValue != f.DefValue:
				err = fmt.Errorf("flag -%s: two services define it with the defaults %q and %q", f.Name, prev.DefValue, f.DefValue)
			default:
				prev.Value = shared{prev.Value, f.Value}
			}
		})
	}
	return err
}

// shared is the value of a flag that several services define: setting it
// sets each.
type shared []flag.Value

func (s shared) String() string { return s[0].String() }

func (s shared) Set(v string) error {
	for _, x := range s {
		if err := x.Set(v); err != nil {
			return err
		}
	}
	return nil
}

// IsBoolFlag keeps a shared boolean flag usable as -name without a value.
func (s shared) IsBoolFlag() bool {
	b, ok := s[0].(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
