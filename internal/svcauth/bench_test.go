package svcauth

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// BenchmarkCredentialsToken is the client's cost per call: a cached token.
func BenchmarkCredentialsToken(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	creds, err := NewCredentials(key, "order", Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := creds.Token("payment"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the server's cost of a service token it has not seen.
func BenchmarkVerify(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	tok, err := Sign(key, "order", "payment", time.Now(), TokenLifetime)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		v := newVerifier(key.Public().(ed25519.PublicKey), "payment", Options{})
		if _, err := v.verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRemembered is the server's cost per call of the token a
// caller keeps sending.
func BenchmarkVerifyRemembered(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	tok, err := Sign(key, "order", "payment", time.Now(), TokenLifetime)
	if err != nil {
		b.Fatal(err)
	}
	v := newVerifier(key.Public().(ed25519.PublicKey), "payment", Options{})
	for b.Loop() {
		if _, err := v.verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
