package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository's top directory, seen from this package's.
const repoRoot = ".."

// shared is what the tests of this package share, made on first use and
// released by TestMain: the kitshop commands they run, and the running
// kitshop several tests look at.
var shared struct {
	mu       sync.Mutex
	binaries map[string]*built

	systemOnce sync.Once
	system     *system
	systemErr  error
}

// built is one command, built once.
type built struct {
	once   sync.Once
	path   string
	tmpDir string // to remove at the end, when go build made it
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.system != nil {
		shared.system.stop()
	}
	for _, b := range shared.binaries {
		if b.tmpDir != "" {
			os.RemoveAll(b.tmpDir)
		}
	}
	os.Exit(code)
}

// binary returns the path of an executable of cmd/<name>; see binaries.
func binary(t *testing.T, name string) string {
	t.Helper()
	return binaries(t, name)[name]
}

// binaries returns the paths of executables of the named commands (cmd/<name>),
// each built once per test binary, concurrently. `go run -exec echo` prints
// where the go command keeps the executable it built: since Go 1.24 that is
// its build cache, so a command unchanged since the last run is not linked
// again (linking a kitshop command, FerretDB and SQLite included, is the slow
// part of building it). Without that cache the executable is gone once go run
// returns, and the command is built with go build instead.
func binaries(t *testing.T, names ...string) map[string]string {
	t.Helper()
	var wg sync.WaitGroup
	bs := make(map[string]*built)
	for _, name := range names {
		shared.mu.Lock()
		if shared.binaries == nil {
			shared.binaries = make(map[string]*built)
		}
		b := shared.binaries[name]
		if b == nil {
			b = &built{}
			shared.binaries[name] = b
		}
		shared.mu.Unlock()
		bs[name] = b
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.once.Do(func() { b.path, b.tmpDir, b.err = build(name) })
		}()
	}
	wg.Wait()
	paths := make(map[string]string)
	for name, b := range bs {
		if b.err != nil {
			t.Fatal(b.err)
		}
		paths[name] = b.path
	}
	return paths
}

func build(name string) (path, tmpDir string, err error) {
	pkg := "./cmd/" + name
	cmd := exec.Command("go", "run", "-ldflags=-s -w", "-exec", "echo", pkg)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go run %s: %v\n%s", pkg, err, stderr.String())
	}
	if path := strings.TrimSpace(string(out)); filepath.IsAbs(path) {
		if _, err := os.Stat(path); err == nil {
			return path, "", nil
		}
	}
	if tmpDir, err = os.MkdirTemp("", "kitshop-deploy-bin-"); err != nil {
		return "", "", err
	}
	path = filepath.Join(tmpDir, name)
	cmd = exec.Command("go", "build", "-ldflags=-s -w", "-o", path, pkg)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", tmpDir, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return path, tmpDir, nil
}

// flagInfo is one flag of a command, as its -h describes it.
type flagInfo struct {
	name, env, def string
}

var (
	usageFlag = regexp.MustCompile(`^\s+-([a-z0-9-]+)`)
	usageEnv  = regexp.MustCompile(`\(env (KITSHOP_[A-Z0-9_]+), default (.*)\)$`)
)

// usage returns the flags of the named command as its -h lists them, each
// with the KITSHOP_* variable internal/config prints for it.
func usage(t *testing.T, name string) []flagInfo {
	t.Helper()
	return usageWith(t, name, nil)
}

// usageWith is usage with the variables env ("NAME=value") added to the
// command's environment, which -h then shows in the defaults they set.
func usageWith(t *testing.T, name string, env []string) []flagInfo {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary(t, name), "-h")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s -h: %v\n%s", name, err, out.String())
	}
	var flags []flagInfo
	for _, line := range strings.Split(out.String(), "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			flags = append(flags, flagInfo{name: m[1]})
		} else if m := usageEnv.FindStringSubmatch(line); m != nil && len(flags) > 0 {
			flags[len(flags)-1].env, flags[len(flags)-1].def = m[1], strings.Trim(m[2], `"`)
		}
	}
	if len(flags) < 5 || slices.ContainsFunc(flags, func(f flagInfo) bool { return f.env == "" }) {
		t.Fatalf("cannot read the flags of %s -h (%d found: %v):\n%s", name, len(flags), flags, out.String())
	}
	return flags
}

// envNames returns the KITSHOP_* variables the named command reads.
func envNames(t *testing.T, name string) map[string]bool {
	t.Helper()
	names := make(map[string]bool)
	for _, f := range usage(t, name) {
		names[f.env] = true
	}
	return names
}

// otelFlags are the standard OpenTelemetry variables a deployment may give a
// kitshop command, each with the flag whose default it sets
// (internal/telemetry.Config.RegisterFlags).
var otelFlags = map[string]string{
	"OTEL_EXPORTER_OTLP_ENDPOINT":        "otel-endpoint",
	"OTEL_EXPORTER_OTLP_PROTOCOL":        "otel-protocol",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "otel-protocol",
	"OTEL_SERVICE_NAME":                  "otel-service-name",
}

// checkOTelEnv reports, through t, each of the OTEL_* variables of env that
// the named command does not read: one that is not in otelFlags, or whose
// value its -h, run with env, does not show as its flag's default.
func checkOTelEnv(t *testing.T, name string, env map[string]string) {
	t.Helper()
	var vars []string
	for k, v := range env {
		if _, known := otelFlags[k]; !known {
			t.Errorf("%s is given %s, not one of the OpenTelemetry variables kitshop reads (%v)", name, k, slices.Sorted(maps.Keys(otelFlags)))
			continue
		}
		vars = append(vars, k+"="+v)
	}
	if len(vars) == 0 {
		return
	}
	defaults := map[string]string{}
	for _, f := range usageWith(t, name, vars) {
		defaults[f.name] = f.def
	}
	for k, v := range env {
		if flag, known := otelFlags[k]; known && defaults[flag] != v {
			t.Errorf("%s does not read %s: with it set to %q, -%s defaults to %q", name, k, v, flag, defaults[flag])
		}
	}
}

// need skips the test when tool is not on PATH.
func need(t *testing.T, tool, why string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("SKIP: %s is not on PATH (%s); .ci/run installs it (apt-get install %s)", tool, why, debianPackage[tool])
	}
	return path
}

// debianPackage names the Debian package of each external tool.
var debianPackage = map[string]string{
	"docker-compose": "docker-compose",
	"promtool":       "prometheus",
	"prometheus":     "prometheus",
}
