package payment

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kitshop/kitshop/internal/card"
)

func TestLuhn(t *testing.T) {
	t.Parallel()
	for n, want := range map[string]bool{
		"4242424242424242":    true,
		"4242424242424241":    false,
		"5555555555554444":    true,
		"378282246310005":     true, // Amex, 15 digits
		"6011111111111117":    true,
		"4242424242424242428": true,
		"0000000000000000":    true,
		"1234567812345678":    false,
	} {
		if got := card.LuhnValid(n); got != want {
			t.Errorf("card.LuhnValid(%s) = %v, want %v", n, got, want)
		}
	}
}

func TestMaskCardNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"4242424242424242":    "**** **** **** 4242",
		"4242 4242 4242 1234": "**** **** **** 1234",
		"3782-822463-10005":   "**** **** **** 0005",
		"12 3":                "****",
		"":                    "****",
	} {
		if got := MaskCardNumber(in); got != want {
			t.Errorf("MaskCardNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCardNeverPrintsItsData(t *testing.T) {
	t.Parallel()
	c := Card{Number: "4242 4242 4242 4242", ExpiryYear: "2029", ExpiryMonth: "7", BirthOrRegistration: "880715", PasswordTwoDigits: "58"}
	req := PaymentRequest{OrderID: "o", Card: c}
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr { // a time may contain "58"
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("x", "card", c, "req", req)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %q %x", c, req, req, c, c, c)
	for _, secret := range []string{"4242 4242 4242 4242", "880715", "58", "2029"} {
		if strings.Contains(strings.ReplaceAll(out, "**** **** **** 4242", ""), secret) {
			t.Errorf("printed card data %q in %s", secret, out)
		}
	}
	if !strings.Contains(out, "**** **** **** 4242") {
		t.Errorf("the masked number is missing from %s", out)
	}
}

func TestCardFingerprint(t *testing.T) {
	t.Parallel()
	a := cardFingerprint(testCardKey, TestCardApproved)
	if a != cardFingerprint(testCardKey, TestCardApproved) || len(a) != 64 {
		t.Errorf("fingerprint %q is not a stable 64-digit hex string", a)
	}
	if a == cardFingerprint(testCardKey, TestCardStolen) {
		t.Error("two cards share a fingerprint")
	}
	otherKey := bytes.Repeat([]byte{1}, MinCardKeyBytes)
	if a == cardFingerprint(otherKey, TestCardApproved) {
		t.Error("the fingerprint does not depend on the key")
	}
	if strings.Contains(a, TestCardApproved) {
		t.Error("the fingerprint contains the number")
	}
}

func TestLoadOrCreateCardKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "card.key")

	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			var err error
			if keys[i], err = LoadOrCreateCardKey(path); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, k := range keys {
		if len(k) != MinCardKeyBytes || !bytes.Equal(k, keys[0]) {
			t.Fatalf("creator %d got key %x, want the same %d-byte key as creator 0 (%x)", i, k, MinCardKeyBytes, keys[0])
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	if again, err := LoadOrCreateCardKey(path); err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("reload: %x, %v; want the same key", again, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the key directory holds %d files, want only the key (temporary files removed)", len(entries))
	}

	for name, content := range map[string]string{"short": strings.Repeat("ab", 31), "not hex": "zz"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateCardKey(p); err == nil {
			t.Errorf("%s key accepted", name)
		}
	}
}
