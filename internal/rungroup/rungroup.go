// Package rungroup owns the start and stop of a kitshop process, on top of
// github.com/oklog/run (go-kit's run group): gRPC and HTTP servers,
// background units and cleanups, stopped in order within one time limit.
//
//	g := rungroup.New(logger, cfg.ShutdownTimeout)
//	grpcAddr, err := g.GRPC("user", cfg.GRPCAddr, grpcSrv)
//	httpAddr, err := g.HTTP("user", cfg.HTTPAddr, handler)
//	g.Background("sweeper", sweep)
//	g.Cleanup("store", store.Close)
//	err = g.Run(ctx)
//
// Run returns when ctx is done, on SIGINT or SIGTERM, or as soon as a unit
// fails. The shutdown then goes, all within the shutdown timeout:
//
//  1. every gRPC server that has MarkNotServing (grpcserver.Server) is marked
//     NOT_SERVING, and every function registered with Stopping runs (a unit
//     stops taking new work: reports not ready, refuses new requests);
//  2. HTTP servers are shut down (http.Server.Shutdown) and gRPC servers
//     stopped (grpc.Server.GracefulStop), concurrently, letting in-flight
//     requests finish; whatever is still running when the time limit passes
//     is closed (http.Server.Close, grpc.Server.Stop);
//  3. background units are cancelled and awaited;
//  4. cleanups run, in reverse order of registration.
package rungroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/run"

	"github.com/kitshop/kitshop/internal/httpserver"
)

// GRPCServer is what GRPC serves: *grpc.Server and *grpcserver.Server both
// are one. If it also has a MarkNotServing() method, it is called first at
// shutdown.
type GRPCServer interface {
	Serve(net.Listener) error
	GracefulStop()
	Stop()
}

// Group collects the units of a process. Register every unit before calling
// Run, once; the zero Group is not usable, use New.
type Group struct {
	logger     *slog.Logger
	timeout    time.Duration
	servers    []server
	background []namedFunc
	cleanups   []namedFunc
	stopping   []func()
}

// server is a bound listener with its serve and stop functions.
type server struct {
	name string
	lis  net.Listener
	// serve blocks until the server stops; stop(ctx) stops it gracefully,
	// forcing it once ctx is done.
	serve          func(net.Listener) error
	stop           func(context.Context) error
	markNotServing func()
}

type namedFunc struct {
	name string
	fn   func(context.Context) error
}

// New returns an empty group logging to logger whose shutdown takes at most
// shutdownTimeout (10s if not positive).
func New(logger *slog.Logger, shutdownTimeout time.Duration) *Group {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if shutdownTimeout <= 0 {
		shutdownTimeout = 10 * time.Second
	}
	return &Group{logger: logger, timeout: shutdownTimeout}
}

// GRPC binds addr at once (":0" picks a free port) and returns the bound
// address, e.g. "[::]:50051". srv is served by Run; register its services
// and call Ready (grpcserver.Server) before Run.
func (g *Group) GRPC(name, addr string, srv GRPCServer) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("grpc %s: listen on %q: %w", name, addr, err)
	}
	g.GRPCOn(name, lis, srv)
	return lis.Addr().String(), nil
}

// GRPCOn serves srv on lis, a listener bound already (such as an in-memory
// one), as GRPC does on its own. One server may be served on several
// listeners: stopping it stops them all.
func (g *Group) GRPCOn(name string, lis net.Listener, srv GRPCServer) {
	s := server{
		name:  "grpc " + name,
		lis:   lis,
		serve: srv.Serve,
		stop: func(ctx context.Context) error {
			done := make(chan struct{})
			go func() {
				srv.GracefulStop()
				close(done)
			}()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				srv.Stop()
				<-done
				return errors.New("graceful stop timed out, remaining calls were cut off")
			}
		},
	}
	if m, ok := srv.(interface{ MarkNotServing() }); ok {
		s.markNotServing = m.MarkNotServing
	}
	g.servers = append(g.servers, s)
}

// HTTP binds addr at once (":0" picks a free port) and returns the bound
// address. h is served by Run with httpserver.NewServer's timeouts.
func (g *Group) HTTP(name, addr string, h http.Handler) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("http %s: listen on %q: %w", name, addr, err)
	}
	srv := httpserver.NewServer(lis.Addr().String(), h)
	srv.ErrorLog = slog.NewLogLogger(g.logger.With("server", "http "+name).Handler(), slog.LevelWarn)
	g.servers = append(g.servers, server{
		name: "http " + name,
		lis:  lis,
		serve: func(lis net.Listener) error {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		stop: func(ctx context.Context) error {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
				return fmt.Errorf("graceful shutdown: %w, remaining connections were closed", err)
			}
			return nil
		},
	})
	return lis.Addr().String(), nil
}

// Background runs fn during Run. Its context is cancelled at shutdown, after
// the servers have stopped; fn should then return promptly. A non-nil error
// returned before shutdown stops the whole group; returning nil early just
// ends the unit.
func (g *Group) Background(name string, fn func(ctx context.Context) error) {
	g.background = append(g.background, namedFunc{name: name, fn: fn})
}

// Stopping registers fn to run when the shutdown begins, with the gRPC
// servers' MarkNotServing and before any server stops: the place for a unit
// to stop taking new work (report not ready, refuse new requests with a
// retry advice) while the requests in flight finish. fn must not block.
func (g *Group) Stopping(fn func()) {
	g.stopping = append(g.stopping, fn)
}

// Cleanup registers fn to run at the end of Run, after every server and
// background unit has stopped, in reverse order of registration (like
// defer). Its context carries the remaining shutdown time.
func (g *Group) Cleanup(name string, fn func(ctx context.Context) error) {
	g.cleanups = append(g.cleanups, namedFunc{name: name, fn: fn})
}

// Abort undoes a group that will not Run, after a failed start: it closes
// every bound listener without serving it, and runs the cleanups in reverse
// order of registration within the shutdown timeout. Background units and
// Stopping functions do not run. It returns the listeners' and cleanups'
// errors.
func (g *Group) Abort(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
	defer cancel()
	var errs []error
	for _, s := range g.servers {
		if err := s.lis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	for i := len(g.cleanups) - 1; i >= 0; i-- {
		c := g.cleanups[i]
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cleanup %s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// errStopRequested marks the normal end of a run: ctx done or a signal.
var errStopRequested = errors.New("stop requested")

// Run serves every unit until ctx is done, SIGINT or SIGTERM arrives, or a
// unit fails, then shuts everything down in order (see the package doc).
// It returns nil after a requested stop with a clean shutdown; otherwise the
// failure that stopped the group joined with every shutdown problem (forced
// stops, background or cleanup errors).
func (g *Group) Run(ctx context.Context) error {
	// Shutdown work must outlive ctx, whose end is what usually starts it.
	sd := newShutdown(context.WithoutCancel(ctx), g.timeout)
	defer sd.release()

	var (
		rg       run.Group
		mu       sync.Mutex
		problems []error
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, err)
	}

	// The trigger: ctx or a signal. Its interrupt comes first whatever
	// stopped the group: it starts the shutdown clock and marks health.
	sigExecute, sigInterrupt := run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM)
	rg.Add(func() error {
		err := sigExecute()
		switch {
		case errors.Is(err, run.ErrSignal):
			g.logger.Info("shutting down", "reason", err.Error())
			return errStopRequested
		case ctx.Err() != nil:
			g.logger.Info("shutting down", "reason", "context done")
			return errStopRequested
		default:
			return err // interrupted: another unit stopped first
		}
	}, func(cause error) {
		sigInterrupt(cause)
		sd.begin()
		if !errors.Is(cause, errStopRequested) {
			g.logger.Error("shutting down", "reason", cause.Error())
		}
		for _, s := range g.servers {
			if s.markNotServing != nil {
				s.markNotServing()
			}
		}
		for _, fn := range g.stopping {
			fn()
		}
	})

	// Servers: stopping starts in their interrupts, concurrently; serve
	// returns only once the stop has completed.
	var serversStopped sync.WaitGroup
	serversStopped.Add(len(g.servers))
	for _, s := range g.servers {
		stopped := make(chan error, 1)
		rg.Add(func() error {
			err := s.serve(s.lis)
			if !sd.begun() {
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				return fmt.Errorf("%s: %w", s.name, err)
			}
			return <-stopped
		}, func(error) {
			go func() {
				defer serversStopped.Done()
				err := s.stop(sd.ctx)
				if err != nil {
					err = fmt.Errorf("%s: %w", s.name, err)
					report(err)
				} else {
					g.logger.Debug("stopped", "unit", s.name)
				}
				stopped <- err
			}()
		})
	}

	// Background units: cancelled once every server has stopped, so that
	// in-flight requests can still use them.
	bgCtx, cancelBackground := context.WithCancel(sd.base)
	defer cancelBackground()
	if len(g.background) > 0 {
		rg.Add(func() error {
			<-sd.started
			serversStopped.Wait()
			cancelBackground()
			return nil
		}, func(error) {})
	}
	for _, b := range g.background {
		rg.Add(func() error { return g.runBackground(bgCtx, sd, b, report) }, func(error) {})
	}

	cause := rg.Run()

	for i := len(g.cleanups) - 1; i >= 0; i-- {
		c := g.cleanups[i]
		if err := c.fn(sd.ctx); err != nil {
			report(fmt.Errorf("cleanup %s: %w", c.name, err))
		} else {
			g.logger.Debug("cleaned up", "unit", "cleanup "+c.name)
		}
	}

	if errors.Is(cause, errStopRequested) {
		cause = nil
	}
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(append([]error{cause}, problems...)...)
}

// runBackground is the execute function of a background unit.
func (g *Group) runBackground(ctx context.Context, sd *shutdown, b namedFunc, report func(error)) error {
	done := make(chan error, 1)
	go func() { done <- b.fn(ctx) }()
	select {
	case err := <-done:
		if sd.begun() {
			return afterCancel(b.name, err, report)
		}
		if err != nil {
			return fmt.Errorf("background %s: %w", b.name, err)
		}
		// Ended early and cleanly: that is not a reason to stop the group.
		g.logger.Debug("finished", "unit", "background "+b.name)
		<-sd.started
		return nil
	case <-sd.started:
	}
	select {
	case err := <-done:
		return afterCancel(b.name, err, report)
	case <-sd.ctx.Done():
		err := fmt.Errorf("background %s: did not stop within the shutdown timeout", b.name)
		report(err)
		return err
	}
}

// afterCancel reports the error a background unit returned once the
// shutdown had begun, unless it is just the cancellation.
func afterCancel(name string, err error, report func(error)) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	err = fmt.Errorf("background %s: %w", name, err)
	report(err)
	return err
}

// shutdown is the clock of one shutdown. ctx is set, and started closed,
// by the first begin; read ctx only after started is closed.
type shutdown struct {
	base    context.Context
	timeout time.Duration
	once    sync.Once
	started chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
}

func newShutdown(base context.Context, timeout time.Duration) *shutdown {
	return &shutdown{base: base, timeout: timeout, started: make(chan struct{})}
}

// begin starts the shutdown clock; later calls do nothing.
func (s *shutdown) begin() {
	s.once.Do(func() {
		s.ctx, s.cancel = context.WithTimeout(s.base, s.timeout)
		close(s.started)
	})
}

func (s *shutdown) begun() bool {
	select {
	case <-s.started:
		return true
	default:
		return false
	}
}

// release frees the clock's timer.
func (s *shutdown) release() {
	if s.begun() {
		s.cancel()
	}
}
