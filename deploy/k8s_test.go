package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The Kubernetes tree is built with kustomize's own library
// (sigs.k8s.io/kustomize/api/krusty v0.21.1, what `kubectl apply -k` runs;
// v0.21.3 needs Go 1.27), offline, and every resulting object is decoded
// strictly (unknown or misspelled fields are errors) into the k8s.io/api type
// of its kind.

var k8sDir = filepath.Join(repoRoot, "deploy", "k8s")

// namespace is where the tree puts everything.
const namespace = "kitshop"

// externalSecrets are the Secrets the tree uses but does not hold, with the
// keys it reads: docs/deploy.md tells how to create each.
var externalSecrets = map[string][]string{
	"kitshop-mongo":       {"uri"},
	"kitshop-jwt":         {"jwt-ed25519.pem"},
	"kitshop-card-key":    {"payment-card.key"},
	"kitshop-service-key": {"service-ed25519.pem"},
	"kitshop-session-key": {"session-ed25519.pem"},
}

// sharedKeys are the key files each Deployment is given, by variable, with
// the Secret each must be mounted from: a replica left to generate its own
// key would not agree with the others (tokens, card fingerprints or session
// cookies of one replica refused by the next).
var sharedKeys = map[string]map[string]string{
	"user": {
		"KITSHOP_SERVICE_KEY_FILE": "kitshop-service-key",
		"KITSHOP_JWT_KEY_FILE":     "kitshop-jwt",
	},
	"product": {"KITSHOP_SERVICE_KEY_FILE": "kitshop-service-key"},
	"order":   {"KITSHOP_SERVICE_KEY_FILE": "kitshop-service-key"},
	"payment": {
		"KITSHOP_SERVICE_KEY_FILE": "kitshop-service-key",
		"KITSHOP_CARD_KEY_FILE":    "kitshop-card-key",
	},
	"notification": {"KITSHOP_SERVICE_KEY_FILE": "kitshop-service-key"},
	"edge":         {"KITSHOP_SESSION_KEY_FILE": "kitshop-session-key"},
}

// externalConfigMaps are the ConfigMaps the tree may use but does not hold,
// as each cluster has its own values, with the keys it reads: every
// reference to one is optional, so that a cluster without it runs, and
// docs/deploy.md tells how to create each.
var externalConfigMaps = map[string][]string{
	"kitshop-telemetry": {"otlp-endpoint"}, // where spans go: the OTLP collector's URL
}

// cluster is the built tree, by kind and name.
type cluster struct {
	namespaces   map[string]*corev1.Namespace
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	deployments  map[string]*appsv1.Deployment
	autoscalers  map[string]*autoscalingv2.HorizontalPodAutoscaler
	disruptions  map[string]*policyv1.PodDisruptionBudget
	namespaceOfs map[string]string // "Kind/name" → namespace
}

func buildK8s(t *testing.T) *cluster {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), k8sDir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", k8sDir, err)
	}
	c := &cluster{
		namespaces:   map[string]*corev1.Namespace{},
		configMaps:   map[string]*corev1.ConfigMap{},
		services:     map[string]*corev1.Service{},
		deployments:  map[string]*appsv1.Deployment{},
		autoscalers:  map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		disruptions:  map[string]*policyv1.PodDisruptionBudget{},
		namespaceOfs: map[string]string{},
	}
	for _, r := range resources.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, name, apiVersion := r.GetKind(), r.GetName(), r.GetApiVersion()
		var obj any
		wantAPI := "v1"
		switch kind {
		case "Namespace":
			o := &corev1.Namespace{}
			obj, c.namespaces[name] = o, o
		case "ConfigMap":
			o := &corev1.ConfigMap{}
			obj, c.configMaps[name] = o, o
		case "Service":
			o := &corev1.Service{}
			obj, c.services[name] = o, o
		case "Deployment":
			o := &appsv1.Deployment{}
			obj, c.deployments[name], wantAPI = o, o, "apps/v1"
		case "HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			obj, c.autoscalers[name], wantAPI = o, o, "autoscaling/v2"
		case "PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			obj, c.disruptions[name], wantAPI = o, o, "policy/v1"
		default:
			t.Errorf("%s %s: a kind this test does not know how to check", kind, name)
			continue
		}
		if apiVersion != wantAPI {
			t.Errorf("%s %s: apiVersion %s, want %s", kind, name, apiVersion, wantAPI)
		}
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Errorf("%s %s does not decode strictly into %T: %v", kind, name, obj, err)
		}
		c.namespaceOfs[kind+"/"+name] = r.GetNamespace()
	}
	return c
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ Resources []string }
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifests []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			manifests = append(manifests, base)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(k.Resources)), manifests) {
		t.Errorf("kustomization resources %v, want every manifest of deploy/k8s: %v", k.Resources, manifests)
	}
}

func TestK8sManifestsAgree(t *testing.T) {
	t.Parallel()
	c := buildK8s(t)

	if c.namespaces[namespace] == nil {
		t.Errorf("no Namespace %s", namespace)
	}
	for obj, ns := range c.namespaceOfs {
		if !strings.HasPrefix(obj, "Namespace/") && ns != namespace {
			t.Errorf("%s is in namespace %q, want %s", obj, ns, namespace)
		}
	}
	// One Deployment per kitshop process, as Prometheus has one job each.
	if got := slices.Sorted(maps.Keys(c.deployments)); !slices.Equal(got, slices.Sorted(slices.Values(scrapeJobs))) {
		t.Errorf("Deployments %v, want %v", got, scrapeJobs)
	}
	binaries(t, scrapeJobs...) // their -h, all linked at once

	for name, d := range c.deployments {
		t.Run(name, func(t *testing.T) { checkDeployment(t, c, name, d) })
	}
	for name, s := range c.services {
		d := c.selected(s.Spec.Selector)
		if d == nil {
			t.Errorf("Service %s selects %v: no Deployment's pods", name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal == "" || containerPort(d, p.TargetPort.StrVal) == 0 {
				t.Errorf("Service %s port %s targets %v, not a named port of %s's container", name, p.Name, p.TargetPort, d.Name)
			}
		}
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "grpc" {
				t.Errorf("headless Service %s has ports %v, want only grpc", name, s.Spec.Ports)
			}
		}
	}
	for name, h := range c.autoscalers {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || c.deployments[ref.Name] == nil {
			t.Errorf("HorizontalPodAutoscaler %s scales %+v, not a Deployment of the tree", name, ref)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: replicas %v..%d, want at least 2", name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	}
	for name, p := range c.disruptions {
		if p.Spec.Selector == nil || c.selected(p.Spec.Selector.MatchLabels) == nil {
			t.Errorf("PodDisruptionBudget %s selects no Deployment's pods", name)
		}
	}
}

// selected returns the one Deployment whose pods selector selects, or nil.
func (c *cluster) selected(selector map[string]string) *appsv1.Deployment {
	var found []*appsv1.Deployment
	for _, d := range c.deployments {
		if len(selector) > 0 && matches(selector, d.Spec.Template.Labels) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return nil
	}
	return found[0]
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func containerPort(d *appsv1.Deployment, name string) int32 {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func checkDeployment(t *testing.T, c *cluster, name string, d *appsv1.Deployment) {
	spec := d.Spec.Template.Spec
	if d.Spec.Selector == nil || !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod template's labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("replicas set to %d: the HorizontalPodAutoscaler owns the count", *d.Spec.Replicas)
	}
	if h := c.autoscalers[name]; h == nil || h.Spec.ScaleTargetRef.Name != name {
		t.Errorf("no HorizontalPodAutoscaler %s", name)
	}
	if p := c.disruptions[name]; p == nil || c.selected(p.Spec.Selector.MatchLabels) != d {
		t.Errorf("no PodDisruptionBudget for it")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want a non-root user", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	ctr := spec.Containers[0]
	sc := ctr.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context %+v: want no privilege escalation, a read-only root, every capability dropped", sc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := ctr.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := ctr.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}
	if len(ctr.Command) != 1 || path.Base(ctr.Command[0]) != name || !strings.HasPrefix(ctr.Command[0], "/usr/local/bin/") {
		t.Errorf("command %v, want /usr/local/bin/%s", ctr.Command, name)
	}

	// Probes: gRPC health on the gRPC port for the services, HTTP for the edge.
	grpcPort, httpPort := containerPort(d, "grpc"), containerPort(d, "http")
	if httpPort == 0 {
		t.Errorf("no container port named http")
	}
	for what, p := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
		switch {
		case p == nil:
			t.Errorf("no %s probe", what)
		case name == "edge":
			if p.HTTPGet == nil || p.HTTPGet.Port.StrVal != "http" {
				t.Errorf("%s probe %+v, want HTTP on the http port", what, p.ProbeHandler)
			}
		case p.GRPC == nil || p.GRPC.Port != grpcPort || grpcPort == 0:
			t.Errorf("%s probe %+v, want gRPC health on the grpc port %d", what, p.ProbeHandler, grpcPort)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(httpPort)) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v, want /metrics on port %d", ann, httpPort)
	}
	if d.Spec.Template.Labels["app.kubernetes.io/name"] != name {
		t.Errorf("pod label app.kubernetes.io/name %q: Prometheus takes the job name from it", d.Spec.Template.Labels["app.kubernetes.io/name"])
	}

	// Configuration: every variable is one the command reads, every
	// ConfigMap and Secret key exists, every address names a Service.
	env := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil || c.configMaps[from.ConfigMapRef.Name] == nil {
			t.Errorf("envFrom %+v: no such ConfigMap", from)
			continue
		}
		maps.Copy(env, c.configMaps[from.ConfigMapRef.Name].Data)
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if !slices.Contains(externalSecrets[ref.Name], ref.Key) {
				t.Errorf("%s reads Secret %s key %s, not one of %v", e.Name, ref.Name, ref.Key, externalSecrets)
			}
			env[e.Name] = "(secret)"
		case e.ValueFrom.ConfigMapKeyRef != nil && externalConfigMaps[e.ValueFrom.ConfigMapKeyRef.Name] != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			if !slices.Contains(externalConfigMaps[ref.Name], ref.Key) {
				t.Errorf("%s reads ConfigMap %s key %s, not one of %v", e.Name, ref.Name, ref.Key, externalConfigMaps)
			}
			if ref.Optional == nil || !*ref.Optional {
				t.Errorf("%s reads ConfigMap %s, which is not in the tree, without optional: true: pods would not start without it", e.Name, ref.Name)
			}
			env[e.Name] = "(configmap " + ref.Name + " " + ref.Key + ")"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := c.configMaps[ref.Name]
			if cm == nil {
				t.Errorf("%s reads ConfigMap %s, which is not in the tree", e.Name, ref.Name)
			} else if _, ok := cm.Data[ref.Key]; !ok {
				t.Errorf("%s reads key %s of ConfigMap %s, which has no such key", e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = "(configmap)"
		default:
			t.Errorf("%s: a value source this test does not check", e.Name)
		}
	}
	known := envNames(t, name)
	otel := map[string]string{}
	for k, v := range env {
		switch {
		case strings.HasPrefix(k, "OTEL_"):
			// A value from a ConfigMap outside the tree stands for one a
			// cluster would set.
			if strings.HasPrefix(v, "(configmap ") {
				v = "http://otel-collector.observability:4317"
			}
			otel[k] = v
		case !known[k]:
			t.Errorf("sets %s, which %s does not read (its -h lists no such flag)", k, name)
		}
	}
	checkOTelEnv(t, name, otel)
	if got := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "(configmap kitshop-telemetry otlp-endpoint)" {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT is %q, want it from ConfigMap kitshop-telemetry key otlp-endpoint", got)
	}
	if name != "edge" {
		if env["KITSHOP_MONGO_URI"] != "(secret)" {
			t.Errorf("KITSHOP_MONGO_URI is not read from a Secret")
		}
		if port(env["KITSHOP_GRPC_ADDR"]) != strconv.Itoa(int(grpcPort)) || port(env["KITSHOP_HTTP_ADDR"]) != strconv.Itoa(int(httpPort)) {
			t.Errorf("listens on %s and %s, but its container ports are %d and %d",
				env["KITSHOP_GRPC_ADDR"], env["KITSHOP_HTTP_ADDR"], grpcPort, httpPort)
		}
	}
	for k, v := range env {
		switch {
		case k == "KITSHOP_GRPC_ADDR" || k == "KITSHOP_HTTP_ADDR":
		case strings.HasSuffix(k, "_ADDR"):
			// Service-to-service gRPC goes to a headless Service, with
			// the dns resolver, so calls spread over every replica.
			target, ok := strings.CutPrefix(v, "dns:///")
			host, p, err := net.SplitHostPort(target)
			s := c.services[host]
			if !ok || err != nil || s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone || !servicePort(s, p) {
				t.Errorf("%s=%s: want dns:///<headless Service>:<its gRPC port>", k, v)
			}
		case strings.HasSuffix(k, "_URL"):
			u, err := url.Parse(v)
			if err != nil || c.services[u.Hostname()] == nil || !servicePort(c.services[u.Hostname()], u.Port()) {
				t.Errorf("%s=%s: no Service %s with port %s", k, v, u.Hostname(), u.Port())
			}
		case strings.HasSuffix(k, "_FILE"):
			if mountedSecret(ctr, spec.Volumes, v) == "" {
				t.Errorf("%s=%s: no Secret volume mounts that file", k, v)
			}
		}
	}
	for k, secret := range sharedKeys[name] {
		if got := mountedSecret(ctr, spec.Volumes, env[k]); got != secret {
			t.Errorf("%s=%q: want a file of Secret %s, mounted (it is from %q)", k, env[k], secret, got)
		}
	}
	if name == "edge" && env["KITSHOP_SECURE_COOKIES"] != "true" {
		t.Errorf("KITSHOP_SECURE_COOKIES is %q, want \"true\": browsers reach the edge over TLS terminated in front of it", env["KITSHOP_SECURE_COOKIES"])
	}
	for _, m := range ctr.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("volume %s is mounted writable at %s, want readOnly: every volume is a Secret", m.Name, m.MountPath)
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret == nil {
			t.Errorf("volume %s is not a Secret", v.Name)
			continue
		}
		for _, item := range v.Secret.Items {
			if !slices.Contains(externalSecrets[v.Secret.SecretName], item.Key) {
				t.Errorf("volume %s reads Secret %s key %s, not one of %v", v.Name, v.Secret.SecretName, item.Key, externalSecrets)
			}
		}
	}
}

func servicePort(s *corev1.Service, p string) bool {
	return slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == p })
}

// mountedSecret returns the name of the Secret whose volume, mounted in ctr,
// holds file as one of its items, or "" when none does.
func mountedSecret(ctr corev1.Container, volumes []corev1.Volume, file string) string {
	for _, m := range ctr.VolumeMounts {
		for _, v := range volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if path.Join(m.MountPath, item.Path) == file {
					return v.Secret.SecretName
				}
			}
		}
	}
	return ""
}

// TestDeployDocTellsHowToCreateTheSecrets: the tree cannot work without
// them; nor trace without the telemetry ConfigMap. kustomization.yaml's
// comment lists the Secrets too. The README's Deploy section names the three
// ways to run kitshop and leaves the steps to docs/deploy.md.
func TestDeployDocTellsHowToCreateTheSecrets(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	kustomization, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, keys := range externalSecrets {
		for _, key := range keys {
			if !regexp.MustCompile(`(?m)^#\s+` + regexp.QuoteMeta(name) + `\s+key\s+` + regexp.QuoteMeta(key) + `:`).Match(kustomization) {
				t.Errorf("deploy/k8s/kustomization.yaml's comment does not list Secret %s with key %s (as \"# %s key %s: what it is\")", name, key, name, key)
			}
		}
	}
	for name, keys := range externalSecrets {
		for _, key := range keys {
			if !strings.Contains(string(guide), fmt.Sprintf("create secret generic %s", name)) || !strings.Contains(string(guide), key) {
				t.Errorf("docs/deploy.md does not tell how to create Secret %s with key %s", name, key)
			}
		}
	}
	for name, keys := range externalConfigMaps {
		for _, key := range keys {
			if !strings.Contains(string(guide), fmt.Sprintf("create configmap %s --from-literal=%s=", name, key)) {
				t.Errorf("docs/deploy.md does not tell how to create ConfigMap %s with key %s", name, key)
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, deploy, ok := strings.Cut(string(readme), "\n## Deploy\n")
	if !ok {
		t.Fatal(`README.md has no "## Deploy" section`)
	}
	for _, want := range []string{"go run ./cmd/shop", "docker compose up", "kubectl apply -k deploy/k8s", "docs/deploy.md"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("README's Deploy section lacks %q", want)
		}
	}
}
