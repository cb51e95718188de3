package storefront

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// authData is the sign-up and log-in forms' data.
type authData struct {
	Next, Email, Name, Error string
	Age                      string
}

func (s *Storefront) loginForm(v *visit) {
	v.optionalUser()
	v.page(http.StatusOK, "login", "Log in", authData{Next: localPath(v.r.URL.Query().Get("next"))})
}

func (s *Storefront) signupForm(v *visit) {
	v.optionalUser()
	v.page(http.StatusOK, "signup", "Sign up", authData{Next: localPath(v.r.URL.Query().Get("next"))})
}

// login trades the form's e-mail and password for a token pair
// (POST /auth/login) and starts a signed-in session.
func (s *Storefront) login(v *visit) {
	d := authData{Next: localPath(v.r.PostFormValue("next")), Email: strings.TrimSpace(v.r.PostFormValue("email"))}
	if s.startSession(v, d.Email, v.r.PostFormValue("password"), &d) {
		v.redirect(d.Next)
		return
	}
	v.page(authStatus(d), "login", "Log in", d)
}

// signup registers an account (POST /auth/register), then logs it in.
func (s *Storefront) signup(v *visit) {
	f := v.r.PostForm
	d := authData{Next: localPath(f.Get("next")), Email: strings.TrimSpace(f.Get("email")), Name: f.Get("name"), Age: f.Get("age")}
	age, err := strconv.Atoi(strings.TrimSpace(d.Age))
	if err != nil || age < 0 {
		d.Error = "Age must be a whole number."
		v.page(http.StatusBadRequest, "signup", "Sign up", d)
		return
	}
	err = s.api.do(v.r, call{method: http.MethodPost, path: "/auth/register", basic: d.Email + ":" + f.Get("password"),
		body: map[string]any{"name": d.Name, "age": age, "profile": f.Get("profile")}}, nil)
	switch st := statusOf(err); {
	case err == nil:
	case st == http.StatusConflict:
		d.Error = "An account with this e-mail exists already: log in instead."
		v.page(http.StatusConflict, "signup", "Sign up", d)
		return
	case st == http.StatusBadRequest || st == http.StatusUnauthorized || st == http.StatusTooManyRequests:
		d.Error = err.(*apiError).Message
		v.page(st, "signup", "Sign up", d)
		return
	default:
		v.fail(err)
		return
	}
	if s.startSession(v, d.Email, f.Get("password"), &d) {
		v.flash(fmt.Sprintf("Welcome, %s!", d.Name))
		v.redirect(d.Next)
		return
	}
	v.page(authStatus(d), "login", "Log in", d)
}

// startSession logs in; on a refusal it reports false with d.Error set.
func (s *Storefront) startSession(v *visit, email, password string, d *authData) bool {
	var p tokenPair
	err := s.api.do(v.r, call{method: http.MethodPost, path: "/auth/login", basic: email + ":" + password}, &p)
	switch st := statusOf(err); {
	case err == nil:
		v.signIn(p)
		return true
	case st == http.StatusUnauthorized || st == http.StatusBadRequest:
		d.Error = "Wrong e-mail or password."
	case st == http.StatusTooManyRequests:
		d.Error = fmt.Sprintf("Too many attempts: try again in %d seconds.", seconds(err.(*apiError).RetryAfter))
	default:
		v.s.logger.WarnContext(v.r.Context(), "storefront: log-in failed", "err", err)
		d.Error = "Logging in is not possible right now: try again in a moment."
	}
	return false
}

// authStatus is the status of a refused auth form.
func authStatus(d authData) int {
	if strings.HasPrefix(d.Error, "Too many") {
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

// logout ends the session at the user service (POST /auth/logout), so that a
// copy of the cookie signs no one in, and forgets it here.
func (s *Storefront) logout(v *visit) {
	if v.sess.Refresh != "" {
		err := s.api.do(v.r, call{method: http.MethodPost, path: "/auth/logout", body: map[string]string{"refreshToken": v.sess.Refresh}}, nil)
		if err != nil && statusOf(err) != http.StatusUnauthorized {
			v.fail(err) // the session lives on: say so rather than pretend
			return
		}
	}
	v.signOut()
	v.flash("You are logged out.")
	v.redirect("/")
}
