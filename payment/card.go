package payment

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kitshop/kitshop/internal/card"
)

// Card is the card data of a payment request. It is handed to the [Processor] and never stored or logged:
// its String, Format, LogValue and MarshalJSON methods give only the masked number, so a Card (or a struct
// holding one) passed to fmt, log/slog or encoding/json shows nothing secret.
type Card struct {
	// Number is the card number, digits with optional spaces and dashes.
	Number string
	// ExpiryYear is "2027" or "27".
	ExpiryYear string
	// ExpiryMonth is "1" to "12" ("01" allowed).
	ExpiryMonth string
	// BirthOrRegistration is the holder's birth date (YYMMDD) or business registration number (10 digits).
	BirthOrRegistration string
	// PasswordTwoDigits is the first two digits of the card password.
	PasswordTwoDigits string
}

// String returns the masked card number, e.g. "**** **** **** 4242".
func (c Card) String() string { return MaskCardNumber(c.Number) }

// Format prints the masked card number for every verb, so %v, %+v and %#v never show card data.
func (c Card) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue implements slog.LogValuer: a logged Card is its masked number.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON encodes the masked card number as a JSON string (slog's JSON handler encodes structs with
// encoding/json, which does not call LogValue on their fields).
func (c Card) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// isZero reports whether no card field is set.
func (c Card) isZero() bool { return c == Card{} }

// The checks of the card fields are internal/card's, shared with the order service, which refuses before
// storing an order every card this service would refuse; these wrappers turn its refusals into
// *ValidationError.

func normalizeCardNumber(number string) (string, error) {
	digits, err := card.Normalize(number)
	return digits, validationError(err)
}

func checkExpiry(year, month string, now time.Time) error {
	return validationError(card.CheckExpiry(year, month, now))
}

func checkBirthOrRegistration(v string) error {
	return validationError(card.CheckBirthOrRegistration(v))
}

func checkPasswordTwoDigits(v string) error {
	return validationError(card.CheckPasswordTwoDigits(v))
}

// validationError returns err, a refusal of internal/card or nil, as a *ValidationError.
func validationError(err error) error {
	var fe *card.FieldError
	if errors.As(err, &fe) {
		return invalid(fe.Field, fe.Msg)
	}
	return err
}

// MaskCardNumber returns "**** **** **** " followed by the last four digits of number (separators and other
// characters ignored), or "****" when it has fewer than four digits. It is the only form of a card number
// that is ever stored, logged or returned.
func MaskCardNumber(number string) string {
	var last [4]byte
	n := 0
	for i := len(number) - 1; i >= 0 && n < 4; i-- {
		if c := number[i]; c >= '0' && c <= '9' {
			n++
			last[4-n] = c
		}
	}
	if n < 4 {
		return "****"
	}
	return "**** **** **** " + string(last[:])
}

// MinCardKeyBytes is the shortest card key accepted: the HMAC-SHA256 key that fingerprints card numbers.
const MinCardKeyBytes = 32

// cardFingerprintDomain separates this use of the card key from any other.
const cardFingerprintDomain = "kitshop/payment/card-number/v1\x00"

// cardFingerprint returns the hex HMAC-SHA256 of the normalized card number under key. It tells whether a
// repeated request uses the same card without storing the number: a plain hash would not do, since card
// numbers are few enough (issuer prefix, Luhn digit) to be found from their hash by trying them all, and the
// key is kept out of the database.
func cardFingerprint(key []byte, digits string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cardFingerprintDomain))
	m.Write([]byte(digits))
	return hex.EncodeToString(m.Sum(nil))
}

// LoadOrCreateCardKey reads the card key from path: hex text of at least [MinCardKeyBytes] bytes (64 hex
// digits), surrounding white space ignored. When the file does not exist it creates it, with 32 random bytes
// and mode 0600, atomically (processes starting together end up with the same key). Every replica of the
// payment service that shares a database must use the same key file, or repeats of a payment made through
// another replica are refused as using another card.
func LoadOrCreateCardKey(path string) ([]byte, error) {
	key, err := readCardKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createCardKey(path); err != nil {
		return nil, err
	}
	return readCardKey(path)
}

func readCardKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("payment: read card key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("payment: card key file %s is not hex text", path)
	}
	if len(key) < MinCardKeyBytes {
		return nil, fmt.Errorf("payment: card key in %s has %d bytes, want at least %d", path, len(key), MinCardKeyBytes)
	}
	return key, nil
}

// createCardKey writes a new random key to a temporary file and links it to path, which fails if path
// appeared meanwhile: then the other process's key is kept.
func createCardKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("payment: create card key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".card-key-*")
	if err != nil {
		return fmt.Errorf("payment: create card key: %w", err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, MinCardKeyBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it crashes the program instead)
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("payment: create card key: %w", err)
	}
	if err = os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("payment: create card key: %w", err)
	}
	return nil
}
