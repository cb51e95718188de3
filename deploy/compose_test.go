package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var composeFile = filepath.Join(repoRoot, "docker-compose.yml")

// compose is the part of docker-compose.yml the tests read.
type compose struct {
	Services map[string]composeService
	Volumes  map[string]any
}

type composeService struct {
	Image       string
	Build       any
	Command     []string
	Environment map[string]string
	Ports       []string
	Expose      []string
	Volumes     []string
	DependsOn   map[string]struct{ Condition string } `json:"depends_on"`
	Healthcheck *struct{ Test []string }
	Restart     string
	ReadOnly    bool `json:"read_only"`
}

func readCompose(t *testing.T) compose {
	t.Helper()
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return c
}

// kitshopServices returns the compose services that run a kitshop command,
// with the command's name.
func (c compose) kitshopServices() map[string]string {
	out := make(map[string]string)
	for name, s := range c.Services {
		if len(s.Command) > 0 && strings.HasPrefix(s.Command[0], "/usr/local/bin/") {
			out[name] = path.Base(s.Command[0])
		}
	}
	return out
}

// port returns the port of a ":port" or "host:port" listen address.
func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "?" + addr
	}
	return p
}

func TestComposeFileIsAccepted(t *testing.T) {
	t.Parallel()
	dc := need(t, "docker-compose", "it checks docker-compose.yml")
	runTool(t, repoRoot, dc, "-f", "docker-compose.yml", "config", "-q")
	services := strings.Fields(runTool(t, repoRoot, dc, "-f", "docker-compose.yml", "config", "--services"))
	slices.Sort(services)
	want := []string{"edge", "grafana", "jaeger", "mongo", "notification", "order", "payment", "product", "prometheus", "user"}
	if !slices.Equal(services, want) {
		t.Errorf("docker-compose config --services = %v, want %v", services, want)
	}
}

// TestComposeEnvironmentIsRead checks that every variable given to a kitshop
// container is one its command reads (ff ignores unknown KITSHOP_* names, so
// a typo would silently leave a default in place), the OTEL_* ones included.
func TestComposeEnvironmentIsRead(t *testing.T) {
	t.Parallel()
	c := readCompose(t)
	cmds := c.kitshopServices()
	if len(cmds) != 6 {
		t.Fatalf("compose runs kitshop commands %v, want the five services and the edge", cmds)
	}
	binaries(t, slices.Collect(maps.Values(cmds))...)
	for svc, cmd := range cmds {
		known := envNames(t, cmd)
		otel := map[string]string{}
		for name, v := range c.Services[svc].Environment {
			switch {
			case strings.HasPrefix(name, "OTEL_"):
				otel[name] = v
			case !known[name]:
				t.Errorf("compose service %s sets %s, which %s does not read (its -h lists no such flag)", svc, name, cmd)
			}
		}
		checkOTelEnv(t, cmd, otel)
	}
}

// jaegerOTLPGRPC and jaegerUI are the ports of Jaeger's OTLP/gRPC receiver
// and of its UI and query API.
const (
	jaegerOTLPGRPC = "4317"
	jaegerUI       = "16686"
)

// TestComposeTracing checks that every kitshop process exports its spans to
// the compose Jaeger, which takes OTLP on the compose network only and shows
// its UI on 127.0.0.1 only, and that Prometheus keeps the exemplars that link
// the latency histograms to those traces.
func TestComposeTracing(t *testing.T) {
	t.Parallel()
	c := readCompose(t)
	jaeger, ok := c.Services["jaeger"]
	if !ok {
		t.Fatal("compose runs no jaeger")
	}
	if repo, tag, _ := strings.Cut(jaeger.Image, ":"); repo != "jaegertracing/jaeger" || !regexp.MustCompile(`^2\.\d+\.\d+$`).MatchString(tag) {
		t.Errorf("jaeger image %q, want jaegertracing/jaeger (all-in-one) at a pinned 2.x.y", jaeger.Image)
	}
	if want := []string{"127.0.0.1:" + jaegerUI + ":" + jaegerUI}; !slices.Equal(jaeger.Ports, want) {
		t.Errorf("jaeger publishes %v, want only its UI, on 127.0.0.1: %v", jaeger.Ports, want)
	}
	if !slices.Contains(jaeger.Expose, jaegerOTLPGRPC) {
		t.Errorf("jaeger exposes %v to the compose network, not its OTLP/gRPC port %s", jaeger.Expose, jaegerOTLPGRPC)
	}

	for svc := range c.kitshopServices() {
		env := c.Services[svc].Environment
		if p := env["OTEL_EXPORTER_OTLP_PROTOCOL"]; p != "" && p != "grpc" {
			t.Errorf("%s exports over %s, want grpc (to port %s)", svc, p, jaegerOTLPGRPC)
		}
		u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
		if err != nil || u.Scheme != "http" || u.Hostname() != "jaeger" || u.Port() != jaegerOTLPGRPC {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT=%q, want http://jaeger:%s", svc, env["OTEL_EXPORTER_OTLP_ENDPOINT"], jaegerOTLPGRPC)
		}
	}

	if cmd := c.Services["prometheus"].Command; !slices.ContainsFunc(cmd, func(arg string) bool {
		features, ok := strings.CutPrefix(arg, "--enable-feature=")
		return ok && slices.Contains(strings.Split(features, ","), "exemplar-storage")
	}) {
		t.Errorf("prometheus runs %v: without --enable-feature=exemplar-storage it drops the exemplars (trace_id)", cmd)
	}
}

// TestComposeWiring checks that the services find each other: every address
// and URL a service is given names a compose service listening there, the
// health checks probe each service's own gRPC port, Prometheus's targets are
// the services' HTTP ports, and the mounted files exist.
func TestComposeWiring(t *testing.T) {
	t.Parallel()
	c := readCompose(t)
	cmds := c.kitshopServices()
	grpcPort := func(svc string) string { return port(c.Services[svc].Environment["KITSHOP_GRPC_ADDR"]) }
	httpPort := func(svc string) string { return port(c.Services[svc].Environment["KITSHOP_HTTP_ADDR"]) }

	for name, s := range c.Services {
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("%s: restart policy %q, want it restarted on failure", name, s.Restart)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %s: ports must be bound to 127.0.0.1", name, p)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
	}
	for name, s := range c.Services {
		if s.Healthcheck == nil && name != "edge" {
			t.Errorf("%s has no health check", name)
		}
	}

	for svc, cmd := range cmds {
		s := c.Services[svc]
		if s.Image != "kitshop:local" || s.Build == nil || !s.ReadOnly {
			t.Errorf("%s: image %q, build %v, read_only %v: want the kitshop image built here, read-only", svc, s.Image, s.Build, s.ReadOnly)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "cmd", cmd)); err != nil {
			t.Errorf("%s runs %s, which is not a command of cmd/: %v", svc, cmd, err)
		}
		if svc == "edge" {
			continue
		}
		if cmd != svc {
			t.Errorf("compose service %s runs %s", svc, cmd)
		}
		want := []string{"CMD", "/usr/local/bin/grpc-health-probe", "-addr=localhost:" + grpcPort(svc)}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, want) {
			t.Errorf("%s health check %v, want %v (the gRPC health protocol on its own port)", svc, s.Healthcheck, want)
		}
		if u, err := url.Parse(s.Environment["KITSHOP_MONGO_URI"]); err != nil || u.Scheme != "mongodb" || c.Services[u.Hostname()].Image == "" {
			t.Errorf("%s: KITSHOP_MONGO_URI %q does not name the compose MongoDB", svc, s.Environment["KITSHOP_MONGO_URI"])
		}
		if s.DependsOn["mongo"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for a healthy MongoDB", svc)
		}
	}

	// Every key file a kitshop process is told of is on a named volume it
	// mounts writable (the root file system is read-only): generated on
	// first start, kept across restarts. The edge is told of its session
	// key, so that the storefront's sessions outlive a restart, and serves
	// plain HTTP, so its cookie is not Secure.
	for svc := range cmds {
		s := c.Services[svc]
		for name, v := range s.Environment {
			if strings.HasSuffix(name, "_FILE") && !c.onVolume(s, v) {
				t.Errorf("%s: %s=%s is not on a named volume %s mounts writable", svc, name, v, svc)
			}
		}
	}
	if edge := c.Services["edge"].Environment; edge["KITSHOP_SESSION_KEY_FILE"] == "" {
		t.Errorf("edge: no KITSHOP_SESSION_KEY_FILE: its sessions would end at every restart")
	} else if edge["KITSHOP_SECURE_COOKIES"] == "true" {
		t.Errorf("edge: KITSHOP_SECURE_COOKIES=true, but compose serves it over plain HTTP")
	}

	// Every gRPC address and HTTP URL given to a service is another
	// service's listener.
	for svc := range cmds {
		for name, v := range c.Services[svc].Environment {
			switch {
			case name == "KITSHOP_GRPC_ADDR" || name == "KITSHOP_HTTP_ADDR":
			case strings.HasSuffix(name, "_ADDR"):
				host, p, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///"))
				if err != nil || cmds[host] == "" || grpcPort(host) != p {
					t.Errorf("%s: %s=%s is not a service's gRPC address", svc, name, v)
				}
			case strings.HasSuffix(name, "_URL"):
				u, err := url.Parse(v)
				if err != nil || cmds[u.Hostname()] == "" || httpPort(u.Hostname()) != u.Port() {
					t.Errorf("%s: %s=%s is not a service's HTTP address", svc, name, v)
				}
			}
		}
	}

	// Prometheus scrapes each process on its HTTP port, as compose runs it.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct{ Targets []string }
		} `json:"scrape_configs"`
	}
	raw, err := os.ReadFile(filepath.Join(prometheusDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatal(err)
	}
	for _, job := range prom.ScrapeConfigs {
		for _, sc := range job.StaticConfigs {
			for _, target := range sc.Targets {
				host, p, err := net.SplitHostPort(target)
				if err != nil || host != job.JobName || cmds[host] == "" || httpPort(host) != p {
					t.Errorf("job %s scrapes %s, not the compose service %s's HTTP port", job.JobName, target, job.JobName)
				}
			}
		}
	}

	// Grafana loads the dashboards from where compose mounts them.
	var provider struct {
		Providers []struct{ Options struct{ Path string } }
	}
	raw, err = os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "provisioning", "dashboards", "kitshop.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &provider); err != nil || len(provider.Providers) != 1 {
		t.Fatalf("dashboard provider: %v", err)
	}
	mount := fmt.Sprintf("./deploy/grafana/dashboards:%s:ro", provider.Providers[0].Options.Path)
	if !slices.Contains(c.Services["grafana"].Volumes, mount) {
		t.Errorf("grafana does not mount %s", mount)
	}
	home := c.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if rel, ok := strings.CutPrefix(home, provider.Providers[0].Options.Path+"/"); !ok {
		t.Errorf("grafana's home dashboard %s is not a provisioned one", home)
	} else if _, err := os.Stat(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", rel)); err != nil {
		t.Errorf("grafana's home dashboard: %v", err)
	}
}

// onVolume reports whether file is under the mount point of a named volume
// (one compose declares) that s mounts writable.
func (c compose) onVolume(s composeService, file string) bool {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || (len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")) {
			continue
		}
		if _, ok := c.Volumes[parts[0]]; ok && strings.HasPrefix(path.Clean(file), path.Clean(parts[1])+"/") {
			return true
		}
	}
	return false
}

// TestDockerfileBuildsEveryCommand checks what can be checked of the
// Dockerfile without a Docker engine: every command is built, the health
// probe the health checks call is installed where they call it, and the
// image runs as a non-root user.
func TestDockerfileBuildsEveryCommand(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{
		"go build -ldflags=\"-s -w\" -o /out/ ./cmd/...",
		"GOBIN=/out go install",
		"github.com/grpc-ecosystem/grpc-health-probe@",
		"COPY --from=build /out/ /usr/local/bin/",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"CGO_ENABLED=0",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal", "pb"} {
			if strings.TrimSpace(line) == needed {
				t.Errorf(".dockerignore leaves out %s, which the build needs", needed)
			}
		}
	}
	// The commands compose and Kubernetes run exist.
	out, err := exec.Command("go", "list", "-f", "{{.Name}}", filepath.Join(repoRoot, "cmd", "...")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name != "main" {
			t.Errorf("cmd/ has a package %s that is not a command", name)
		}
	}
}
