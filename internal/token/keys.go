package token

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadPrivateKey reads an Ed25519 private key from a PEM "PRIVATE KEY"
// (PKCS#8) file, as written by LoadOrCreateKey or
// `openssl genpkey -algorithm ed25519`. A missing file gives an error that
// matches fs.ErrNotExist.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: key file %s is not a PKCS#8 private key: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token: key file %s holds a %T, want an Ed25519 key", path, k)
	}
	return priv, nil
}

// LoadPublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY" (PKIX)
// file, as printed by `openssl pkey -in private.pem -pubout`.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: key file %s is not a PKIX public key: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("token: key file %s holds a %T, want an Ed25519 key", path, k)
	}
	return pub, nil
}

// LoadVerifier returns a Verifier that trusts the Ed25519 public key in the
// PEM file at path (see LoadPublicKey).
func LoadVerifier(path string, opts Options) (*Verifier, error) {
	pub, err := LoadPublicKey(path)
	if err != nil {
		return nil, err
	}
	return NewVerifier(map[string]ed25519.PublicKey{KeyID(pub): pub}, opts)
}

func readPEM(path, wantType string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("token: key file %s holds no PEM block", path)
	}
	if block.Type != wantType {
		return nil, fmt.Errorf("token: key file %s holds a PEM %q block, want %q", path, block.Type, wantType)
	}
	return block.Bytes, nil
}

// LoadOrCreateKey loads the private key at path or, if there is no file
// there, generates one and stores it as PEM PKCS#8 with mode 0600, creating
// the directory (0700) if needed. The file appears atomically, complete and
// synced, or not at all; if another process creates it first, its key is
// loaded instead. A file that exists but cannot be parsed is an error, never
// replaced.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := LoadPrivateKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, key, err = ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("token: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("token: encode key: %w", err)
	}
	err = createFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if errors.Is(err, fs.ErrExist) {
		return LoadPrivateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("token: store key: %w", err)
	}
	return key, nil
}

// createFileAtomic writes data to a 0600 temporary file beside path, syncs it,
// then hard-links it to path, which fails with fs.ErrExist rather than
// replacing a file that is already there.
func createFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
