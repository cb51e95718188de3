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
	"strconv"
	"strings"
	"time"
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

// Limits of a card number, in digits (ISO/IEC 7812 primary account numbers).
const (
	minCardDigits = 12
	maxCardDigits = 19
)

// maxExpiryYearsAhead bounds how far in the future an expiry date may be; cards are issued for a few years.
const maxExpiryYearsAhead = 20

// normalizeCardNumber strips spaces and dashes from number and checks that what is left is 12 to 19 digits
// passing the Luhn check. Its messages never contain the number.
func normalizeCardNumber(number string) (string, error) {
	digits := stripSeparators(number)
	if digits == "" {
		return "", invalid("cardNumber", "cardNumber is required for CreditCard payments")
	}
	if !isDigits(digits) || len(digits) < minCardDigits || len(digits) > maxCardDigits {
		return "", invalid("cardNumber", fmt.Sprintf("cardNumber must be %d to %d digits (spaces and dashes allowed)", minCardDigits, maxCardDigits))
	}
	if !luhnValid(digits) {
		return "", invalid("cardNumber", "cardNumber is not a valid card number (Luhn check failed)")
	}
	return digits, nil
}

// luhnValid reports whether the decimal digits pass the Luhn (mod 10) check.
func luhnValid(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// checkExpiry validates the expiry month ("1"-"12") and year (2 or 4 digits; "27" is 2027): a card is valid
// through the last day of its expiry month, in UTC, and must not expire more than 20 years after now.
func checkExpiry(year, month string, now time.Time) error {
	m, err := strconv.Atoi(month)
	if err != nil || !isDigits(month) || len(month) > 2 || m < 1 || m > 12 {
		return invalid("expiryMonth", "expiryMonth must be a month number from 1 to 12")
	}
	if !isDigits(year) || (len(year) != 2 && len(year) != 4) {
		return invalid("expiryYear", "expiryYear must be 2 or 4 digits (e.g. 27 or 2027)")
	}
	y, _ := strconv.Atoi(year) // only digits, at most 4
	if len(year) == 2 {
		y += 2000
	}
	now = now.UTC()
	if y < now.Year() || (y == now.Year() && time.Month(m) < now.Month()) {
		return invalid("expiryYear", fmt.Sprintf("the card expired at the end of %02d/%d", m, y))
	}
	if y > now.Year()+maxExpiryYearsAhead {
		return invalid("expiryYear", fmt.Sprintf("expiryYear %d is more than %d years ahead", y, maxExpiryYearsAhead))
	}
	return nil
}

// checkBirthOrRegistration accepts an empty value, a 6-digit birth date (YYMMDD) or a 10-digit business
// registration number (dashes allowed, as in 123-45-67890).
func checkBirthOrRegistration(v string) error {
	if v == "" {
		return nil
	}
	d := strings.ReplaceAll(v, "-", "")
	if !isDigits(d) || (len(d) != 6 && len(d) != 10) {
		return invalid("birthOrRegistration", "birthOrRegistration must be a 6-digit birth date (YYMMDD) or a 10-digit business registration number")
	}
	return nil
}

// checkPasswordTwoDigits accepts an empty value or exactly two digits.
func checkPasswordTwoDigits(v string) error {
	if v != "" && (len(v) != 2 || !isDigits(v)) {
		return invalid("passwordTwoDigits", "passwordTwoDigits must be exactly 2 digits")
	}
	return nil
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

// stripSeparators removes spaces and dashes.
func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
}

// isDigits reports whether s is non-empty and only ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
