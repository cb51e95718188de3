// Package card holds the checks of a payment's card fields that the payment
// service applies and the order service repeats before it stores an order, so
// that both refuse exactly the same input.
//
// Every refusal is a *FieldError naming the field as the JSON APIs do (e.g.
// "cardNumber"); its message never contains card data.
package card

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldError is a refused field.
type FieldError struct {
	// Field is the field at fault, as named in JSON (e.g. "cardNumber").
	Field string
	// Msg is the whole message, e.g. "passwordTwoDigits must be exactly 2 digits".
	Msg string
}

// Error returns the message.
func (e *FieldError) Error() string { return e.Msg }

func invalid(field, msg string) *FieldError { return &FieldError{Field: field, Msg: msg} }

// Limits of the checks.
const (
	// MinDigits and MaxDigits bound a card number (ISO/IEC 7812 primary account numbers).
	MinDigits = 12
	MaxDigits = 19
	// MaxExpiryYearsAhead bounds how far in the future an expiry date may be; cards are issued for a few years.
	MaxExpiryYearsAhead = 20
	// MaxNameRunes bounds the payer's name.
	MaxNameRunes = 100
)

// Details are the card fields of a payment, as the customer typed them.
type Details struct {
	Number              string // digits with optional spaces and dashes
	ExpiryYear          string // "2027" or "27"
	ExpiryMonth         string // "1" to "12" ("01" allowed)
	BirthOrRegistration string // optional: YYMMDD, or a 10-digit business registration number
	PasswordTwoDigits   string // optional: the first two digits of the card password
}

// FirstSet names the first field of d that is set, or returns "" when none
// is: a Kakao payment takes no card details.
func (d Details) FirstSet() string {
	switch {
	case d.Number != "":
		return "cardNumber"
	case d.ExpiryYear != "":
		return "expiryYear"
	case d.ExpiryMonth != "":
		return "expiryMonth"
	case d.BirthOrRegistration != "":
		return "birthOrRegistration"
	case d.PasswordTwoDigits != "":
		return "passwordTwoDigits"
	}
	return ""
}

// Check checks every field of a credit card payment, at time now, and
// returns the card number's digits (separators removed).
func (d Details) Check(now time.Time) (string, error) {
	digits, err := Normalize(d.Number)
	if err != nil {
		return "", err
	}
	if err := CheckExpiry(d.ExpiryYear, d.ExpiryMonth, now); err != nil {
		return "", err
	}
	if err := CheckBirthOrRegistration(d.BirthOrRegistration); err != nil {
		return "", err
	}
	if err := CheckPasswordTwoDigits(d.PasswordTwoDigits); err != nil {
		return "", err
	}
	return digits, nil
}

// Normalize strips spaces and dashes from number and checks that what is
// left is 12 to 19 digits passing the Luhn check.
func Normalize(number string) (string, error) {
	digits := stripSeparators(number)
	if digits == "" {
		return "", invalid("cardNumber", "cardNumber is required for CreditCard payments")
	}
	if !isDigits(digits) || len(digits) < MinDigits || len(digits) > MaxDigits {
		return "", invalid("cardNumber", fmt.Sprintf("cardNumber must be %d to %d digits (spaces and dashes allowed)", MinDigits, MaxDigits))
	}
	if !LuhnValid(digits) {
		return "", invalid("cardNumber", "cardNumber is not a valid card number (Luhn check failed)")
	}
	return digits, nil
}

// LuhnValid reports whether the decimal digits pass the Luhn (mod 10) check.
func LuhnValid(digits string) bool {
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

// CheckExpiry validates the expiry month ("1"-"12") and year (2 or 4 digits;
// "27" is 2027): a card is valid through the last day of its expiry month, in
// UTC, and must not expire more than 20 years after now.
func CheckExpiry(year, month string, now time.Time) error {
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
	if y > now.Year()+MaxExpiryYearsAhead {
		return invalid("expiryYear", fmt.Sprintf("expiryYear %d is more than %d years ahead", y, MaxExpiryYearsAhead))
	}
	return nil
}

// CheckBirthOrRegistration accepts an empty value, a 6-digit birth date
// (YYMMDD) or a 10-digit business registration number (dashes allowed, as in
// 123-45-67890).
func CheckBirthOrRegistration(v string) error {
	if v == "" {
		return nil
	}
	d := strings.ReplaceAll(v, "-", "")
	if !isDigits(d) || (len(d) != 6 && len(d) != 10) {
		return invalid("birthOrRegistration", "birthOrRegistration must be a 6-digit birth date (YYMMDD) or a 10-digit business registration number")
	}
	return nil
}

// CheckPasswordTwoDigits accepts an empty value or exactly two digits.
func CheckPasswordTwoDigits(v string) error {
	if v != "" && (len(v) != 2 || !isDigits(v)) {
		return invalid("passwordTwoDigits", "passwordTwoDigits must be exactly 2 digits")
	}
	return nil
}

// CheckName accepts a payer's name of at most MaxNameRunes characters of
// valid UTF-8 text without control characters (empty included: whether a name
// is required is the caller's rule).
func CheckName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameRunes || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return invalid("paymentName", fmt.Sprintf("paymentName must be at most %d characters of text", MaxNameRunes))
	}
	return nil
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
