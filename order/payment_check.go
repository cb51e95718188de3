package order

import (
	"errors"
	"fmt"
	"time"

	"github.com/kitshop/kitshop/internal/card"
)

// validate checks the payment part of an order at time now, before any order,
// reservation or payment exists: it refuses everything the payment service
// would refuse (the card checks are internal/card's, which the payment
// service applies too), and also an empty name and any field over
// maxPaymentFieldLen bytes. Its errors match ErrInvalidArgument, name the
// field ("payment.cardNumber") and never contain card data.
func (p PaymentDetails) validate(now time.Time) error {
	if p.Method != MethodCreditCard && p.Method != MethodKakao {
		return fmt.Errorf("%w: payment.paymentMethod must be %s or %s", ErrInvalidArgument, MethodCreditCard, MethodKakao)
	}
	if err := checkText("payment.paymentName", p.Name, maxPaymentFieldLen, true); err != nil {
		return err
	}
	if err := card.CheckName(p.Name); err != nil {
		return paymentFieldError(err)
	}
	d := card.Details{
		Number: p.CardNumber, ExpiryYear: p.ExpiryYear, ExpiryMonth: p.ExpiryMonth,
		BirthOrRegistration: p.BirthOrRegistration, PasswordTwoDigits: p.PasswordTwoDigits,
	}
	for _, f := range []struct{ name, value string }{
		{"payment.cardNumber", d.Number}, {"payment.expiryYear", d.ExpiryYear}, {"payment.expiryMonth", d.ExpiryMonth},
		{"payment.birthOrRegistration", d.BirthOrRegistration}, {"payment.passwordTwoDigits", d.PasswordTwoDigits},
	} {
		if err := checkText(f.name, f.value, maxPaymentFieldLen, false); err != nil {
			return err
		}
	}
	if p.Method == MethodKakao {
		if field := d.FirstSet(); field != "" {
			return fmt.Errorf("%w: payment.%s must be empty for Kakao payments, which take no card details", ErrInvalidArgument, field)
		}
	} else if _, err := d.Check(now); err != nil {
		return paymentFieldError(err)
	}
	if p.Amount <= 0 {
		return fmt.Errorf("%w: payment.amount must be positive", ErrInvalidArgument)
	}
	return nil
}

// paymentFieldError turns a refusal of internal/card into ErrInvalidArgument
// naming the payment field.
func paymentFieldError(err error) error {
	var fe *card.FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%w: payment: %v", ErrInvalidArgument, err)
	}
	return fmt.Errorf("%w: payment.%s: %s", ErrInvalidArgument, fe.Field, fe.Msg)
}
