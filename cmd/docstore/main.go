// Command docstore serves kitshop's embedded document store alone: FerretDB on SQLite files in -data-dir,
// speaking the MongoDB wire protocol on the Unix domain socket <data-dir>/docstore.sock (mode 0600: only the
// user running it can connect, the store having no authentication). Services run as separate processes of
// that user can then share one store (each keeps its own database), and a profile of them leaves the store's
// CPU out:
//
//	go run ./cmd/docstore -data-dir data/store &      # prints the URI to use, on stdout
//	go run ./cmd/user -mongo-uri "$URI" &             # and so on for each service, or cmd/shop -mongo-uri
//
// Use the printed URI as it is: it carries the client options the embedded store needs (one command at a
// time per client, no retried writes; see internal/docstore). -addr 127.0.0.1:27017 also opens a loopback TCP
// port, which every local user can reach (logged at Warn), for tools that cannot use a socket; the URI printed
// is still the socket's, and the TCP one follows it on a second line. It stops gracefully on SIGINT or SIGTERM.
// Run it with -h for every flag and its KITSHOP_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/config"
	"github.com/kitshop/kitshop/internal/docstore/embedded"
	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/rungroup"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "docstore:", err)
		os.Exit(1)
	}
}

// settings are everything cmd/docstore can be told.
type settings struct {
	addr                string
	dataDir             string
	maintenanceInterval time.Duration
	logLevel            string
	logFormat           string
	shutdownTimeout     time.Duration
}

func (s *settings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.addr, "addr", "", "loopback TCP address (host:port, e.g. 127.0.0.1:27017; port 0 picks a free one) where the store also listens, unauthenticated: any local user can connect; empty: only its Unix socket in -data-dir")
	fs.StringVar(&s.dataDir, "data-dir", config.DefaultDataDir, "directory of the SQLite files, one per database; created if missing")
	fs.DurationVar(&s.maintenanceInterval, "maintenance-interval", embedded.DefaultMaintenanceInterval, "how often new collections get their _id index and the write-ahead logs are checkpointed")
	fs.StringVar(&s.logLevel, "log-level", config.DefaultLogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", config.DefaultLogFormat, "log format: text or json")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", config.DefaultShutdownTimeout, "longest graceful stop")
}

func (s *settings) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid -%s (%s): %s", name, config.EnvVar(name), fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(s.dataDir) == "" {
		bad("data-dir", "must not be empty")
	}
	if s.maintenanceInterval <= 0 {
		bad("maintenance-interval", "must be positive")
	}
	if s.shutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive")
	}
	if _, err := logging.ParseLevel(s.logLevel); err != nil {
		bad("log-level", "%v", err)
	}
	if _, err := logging.ParseFormat(s.logFormat); err != nil {
		bad("log-format", "%v", err)
	}
	return errors.Join(errs...)
}

// run serves the store until ctx is done or SIGINT or SIGTERM arrives. It writes the URI (the socket's), alone
// on a line, to stdout once the store accepts connections, then the TCP URI on a line of its own with -addr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	s.register(fs)
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	logger, err := logging.New(stderr, s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	e, err := embedded.Start(ctx, embedded.Options{
		DataDir: s.dataDir, Addr: s.addr, Logger: logger, MaintenanceInterval: s.maintenanceInterval,
	})
	if err != nil {
		return err
	}
	g := rungroup.New(logger, s.shutdownTimeout)
	g.Cleanup("embedded-store", func(context.Context) error { return e.Close() })
	uris := e.URI() + "\n"
	if tcp := e.TCPURI(); tcp != "" && tcp != e.URI() {
		uris += tcp + "\n"
	}
	if _, err = io.WriteString(stdout, uris); err != nil {
		return errors.Join(err, e.Close())
	}
	return g.Run(ctx)
}
