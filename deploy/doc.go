// Package deploy holds no code of kitshop's: it is where the deployment files
// beside it are tested. Its tests check that
//
//   - docker-compose.yml is accepted by docker-compose and wires every
//     service with KITSHOP_* (and OTEL_*) variables the commands really read,
//     to addresses the other services really listen on, every process
//     exporting its spans to the compose Jaeger;
//   - deploy/k8s builds with kustomize and every manifest decodes strictly
//     into the Kubernetes API types, with selectors, ports, probes, config
//     keys and Secrets that agree;
//   - deploy/prometheus passes promtool (config, rules, rule unit tests) and
//     a real Prometheus scraping a running kitshop finds every target up and
//     the kitshop series with their labels;
//   - every PromQL expression of the alerts and of the Grafana dashboard
//     parses and names metrics and labels that a running kitshop exports,
//     and the dashboard's latency panels link their exemplars to Jaeger.
//
// Tests needing docker-compose, promtool or prometheus skip, saying so, when
// the tool is not on PATH (.ci/run installs them).
package deploy
