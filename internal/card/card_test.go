package card

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, time.December, 7, 6, 0, 0, 0, time.UTC)

var valid = Details{Number: "4242 4242-4242 4242", ExpiryYear: "2029", ExpiryMonth: "7", BirthOrRegistration: "880715", PasswordTwoDigits: "58"}

func TestCheckAcceptsAndNormalizes(t *testing.T) {
	t.Parallel()
	for _, d := range []Details{
		valid,
		{Number: "378282246310005", ExpiryYear: "26", ExpiryMonth: "12"},                                            // Amex; this month
		{Number: "4242424242424242428", ExpiryYear: "2046", ExpiryMonth: "01", BirthOrRegistration: "123-45-67890"}, // 19 digits; 20 years ahead
	} {
		digits, err := d.Check(now)
		if err != nil {
			t.Errorf("Check(%s) = %v", d.Number, err)
			continue
		}
		if digits != strings.NewReplacer(" ", "", "-", "").Replace(d.Number) {
			t.Errorf("Check(%s) digits = %s", d.Number, digits)
		}
	}
}

func TestCheckRefusesNamingTheField(t *testing.T) {
	t.Parallel()
	with := func(f func(*Details)) Details { d := valid; f(&d); return d }
	for _, tt := range []struct {
		name  string
		d     Details
		field string
	}{
		{"no number", with(func(d *Details) { d.Number = "" }), "cardNumber"},
		{"separators only", with(func(d *Details) { d.Number = " - " }), "cardNumber"},
		{"luhn", with(func(d *Details) { d.Number = "4242424242424241" }), "cardNumber"},
		{"11 digits", with(func(d *Details) { d.Number = "42424242424" }), "cardNumber"},
		{"20 digits", with(func(d *Details) { d.Number = "42424242424242424242" }), "cardNumber"},
		{"letters", with(func(d *Details) { d.Number = "4242x42424242424" }), "cardNumber"},
		{"dots", with(func(d *Details) { d.Number = "4242.4242.4242.4242" }), "cardNumber"},
		{"month 0", with(func(d *Details) { d.ExpiryMonth = "0" }), "expiryMonth"},
		{"month 13", with(func(d *Details) { d.ExpiryMonth = "13" }), "expiryMonth"},
		{"month +1", with(func(d *Details) { d.ExpiryMonth = "+1" }), "expiryMonth"},
		{"no month", with(func(d *Details) { d.ExpiryMonth = "" }), "expiryMonth"},
		{"3-digit year", with(func(d *Details) { d.ExpiryYear = "202" }), "expiryYear"},
		{"last month", with(func(d *Details) { d.ExpiryYear = "2026"; d.ExpiryMonth = "11" }), "expiryYear"},
		{"last year", with(func(d *Details) { d.ExpiryYear = "25"; d.ExpiryMonth = "12" }), "expiryYear"},
		{"21 years ahead", with(func(d *Details) { d.ExpiryYear = "2047" }), "expiryYear"},
		{"birth 7 digits", with(func(d *Details) { d.BirthOrRegistration = "8807151" }), "birthOrRegistration"},
		{"birth letters", with(func(d *Details) { d.BirthOrRegistration = "88071a" }), "birthOrRegistration"},
		{"password 1 digit", with(func(d *Details) { d.PasswordTwoDigits = "5" }), "passwordTwoDigits"},
		{"password letters", with(func(d *Details) { d.PasswordTwoDigits = "ab" }), "passwordTwoDigits"},
	} {
		_, err := tt.d.Check(now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: Check = %v, want a *FieldError on %s", tt.name, err, tt.field)
			continue
		}
		if !strings.Contains(fe.Msg, tt.field) && !strings.Contains(fe.Msg, "expired") {
			t.Errorf("%s: message %q does not name %s", tt.name, fe.Msg, tt.field)
		}
		for _, secret := range []string{tt.d.Number, "880715", "58"} {
			if secret != "" && strings.Contains(fe.Msg, secret) {
				t.Errorf("%s: message %q echoes card data", tt.name, fe.Msg)
			}
		}
	}
}

func TestFirstSet(t *testing.T) {
	t.Parallel()
	if f := (Details{}).FirstSet(); f != "" {
		t.Errorf("FirstSet of no details = %q", f)
	}
	if f := (Details{PasswordTwoDigits: "12"}).FirstSet(); f != "passwordTwoDigits" {
		t.Errorf("FirstSet = %q, want passwordTwoDigits", f)
	}
	if f := valid.FirstSet(); f != "cardNumber" {
		t.Errorf("FirstSet = %q, want cardNumber", f)
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"":                        true,
		"홍길동":                     true,
		strings.Repeat("가", 100):  true,
		strings.Repeat("a", 101):  false,
		"a\nb":                    false,
		string([]byte{0xff, 'a'}): false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}
