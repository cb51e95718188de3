package config

import (
	"flag"
	"fmt"
	"time"

	"github.com/kitshop/kitshop/internal/logging"
	"github.com/kitshop/kitshop/internal/telemetry"
)

// Process holds the settings every kitshop process that serves HTTP shares:
// its logs, its traces, its graceful stop and its request body limit.
// Service embeds it; cmd/shop and cmd/edge hold one of their own.
type Process struct {
	// LogLevel is debug, info, warn or error (-log-level).
	LogLevel string
	// LogFormat is text or json (-log-format).
	LogFormat string
	// ShutdownTimeout bounds the whole graceful shutdown (-shutdown-timeout).
	ShutdownTimeout time.Duration
	// MaxBodyBytes is the largest HTTP request body accepted (-max-body-bytes).
	MaxBodyBytes int64
	// Tracing is where and how much the process traces (-otel-*).
	Tracing telemetry.Config
}

// Register defines -log-level, -log-format, -shutdown-timeout,
// -max-body-bytes and the tracing flags on fs, storing into p. single says
// the process runs one service (telemetry.Config.RegisterFlags).
func (p *Process) Register(fs *flag.FlagSet, single bool) {
	fs.StringVar(&p.LogLevel, "log-level", DefaultLogLevel, "minimum log level: debug, info, warn or error")
	fs.StringVar(&p.LogFormat, "log-format", DefaultLogFormat, "log format: text or json")
	fs.DurationVar(&p.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "time limit for the graceful shutdown")
	fs.Int64Var(&p.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest HTTP request body accepted, in bytes (413 past it)")
	p.Tracing.RegisterFlags(fs, single)
}

// Check reports, through bad, each flag of Register set to a value the
// process refuses.
func (p Process) Check(bad func(flagName, format string, args ...any)) {
	if _, err := logging.ParseLevel(p.LogLevel); err != nil {
		bad("log-level", "%v", err)
	}
	if _, err := logging.ParseFormat(p.LogFormat); err != nil {
		bad("log-format", "%v", err)
	}
	if p.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "%s: must be positive", p.ShutdownTimeout)
	}
	if p.MaxBodyBytes <= 0 {
		bad("max-body-bytes", "%d: must be positive", p.MaxBodyBytes)
	}
	p.Tracing.Check(bad)
}

// FlagErrors returns the function that start-up checks report a refused flag
// through (Process.Check and the like): it appends to *errs the error
// "invalid -<flag> (<its environment variable>): <message>".
func FlagErrors(errs *[]error) func(flagName, format string, args ...any) {
	return func(flagName, format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("invalid -%s (%s): %s", flagName, EnvVar(flagName), fmt.Sprintf(format, args...)))
	}
}
