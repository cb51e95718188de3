package main

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kitshop/kitshop/internal/svcauth"
)

// Every end-to-end test ends with a scan of every span and log line it
// recorded for secrets (startSystem's cleanup, assertNoSecretsInTelemetry).

// telemetrySecrets are what no span or log line may hold: card numbers in
// any spelling (the last four digits are stored and shown, masked), the
// card's other data, passwords, tokens of users (s.secrets) and of services,
// and any authorization header value.
func (s *system) telemetrySecrets() []string {
	return append([]string{approvedCard, declinedCard, hangCard, "4242 4242", "4242-4242", "42424242", "40000000",
		birthOrRegistration, "passwordTwoDigits", "password_two_digits", "birthOrRegistration", "birth_or_registration",
		userPassword, "eyJ", "Bearer ", "Basic ", svcauth.MetadataKey}, s.secrets...)
}

// findSecrets returns where in spans and log lines a secret occurs: each span's
// name, attributes, events and their attributes, status, links and resource.
func findSecrets(secrets []string, spans []sdktrace.ReadOnlySpan, logs string) []string {
	var found []string
	check := func(where, text string) {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				found = append(found, fmt.Sprintf("%s holds %q: %.300s", where, secret, text))
			}
		}
	}
	checkAttrs := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			check(fmt.Sprintf("%s attribute %s", where, kv.Key), string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, s := range spans {
		where := fmt.Sprintf("span %q of %s", s.Name(), serviceOf(s))
		check(where+" name", s.Name())
		check(where+" status", s.Status().Description)
		checkAttrs(where, s.Attributes())
		checkAttrs(where+" resource", s.Resource().Attributes())
		for _, e := range s.Events() {
			check(where+" event name", e.Name)
			checkAttrs(where+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			checkAttrs(where+" link", l.Attributes)
		}
	}
	for i, line := range strings.Split(logs, "\n") {
		check(fmt.Sprintf("log line %d", i+1), line)
	}
	return found
}

// assertNoSecretsInTelemetry fails, listing each finding, when a span or a
// log line recorded by s holds a secret; startSystem runs it at the end of
// every test.
func (s *system) assertNoSecretsInTelemetry(t *testing.T) {
	t.Helper()
	for _, f := range findSecrets(s.telemetrySecrets(), s.spans.Ended(), s.logs.String()) {
		t.Error(f)
	}
}

// TestFindSecretsFindsThem: the scan finds a secret in each place it reads.
func TestFindSecretsFindsThem(t *testing.T) {
	t.Parallel()
	span := tracetest.SpanStub{
		Name:       "pay 4242 4242 4242 4242",
		Attributes: []attribute.KeyValue{attribute.String("card", approvedCard)},
		Events:     []sdktrace.Event{{Name: "retry", Attributes: []attribute.KeyValue{attribute.String("authorization", "Bearer x")}}},
		Status:     sdktrace.Status{Description: "bad password " + userPassword},
	}.Snapshot()
	found := findSecrets((&system{secrets: []string{"tok-123"}}).telemetrySecrets(), []sdktrace.ReadOnlySpan{span},
		`{"msg":"ok"}`+"\n"+`{"msg":"login","token":"tok-123"}`)
	want := []string{`span "pay 4242 4242 4242 4242" of  name holds "4242 4242"`, `attribute card holds "4242424242424242"`,
		`event retry attribute authorization holds "Bearer "`, `status holds "correct horse battery"`, `log line 2 holds "tok-123"`}
	for _, w := range want {
		if !strings.Contains(strings.Join(found, "\n"), w) {
			t.Errorf("the scan missed %s; found:\n%s", w, strings.Join(found, "\n"))
		}
	}
}
