package storefront

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// The session cookie.
const (
	cookieName = "kitshop_session"
	// sessionMaxAge bounds a signed-in session's cookie; the refresh token
	// inside expires on its own schedule (internal/token) and ends it first
	// when shorter.
	sessionMaxAge = 7 * 24 * time.Hour
	// refreshEarly is how long before its expiry an access token is
	// renewed, so that no API call made for the page finds it expired.
	refreshEarly = 30 * time.Second
)

// session is what the storefront keeps of a browser, sealed in its cookie
// (gorilla/securecookie: AES-CTR encrypted and HMAC-SHA256 authenticated,
// with a timestamp checked against sessionMaxAge), so that any edge replica
// holding the same session key serves any browser and nothing of a session is
// stored on the server. The tokens never reach the page's JavaScript: the
// cookie is HttpOnly and unreadable without the key.
type session struct {
	// CSRF is the token every form of the session carries; it changes at
	// log-in and log-out.
	CSRF string `json:"c"`
	// Access and Refresh are the user's token pair; empty when signed out.
	Access  string `json:"a,omitempty"`
	Refresh string `json:"r,omitempty"`
	// Expires is when Access expires, in Unix seconds.
	Expires int64 `json:"e,omitempty"`
	// Flash is a one-time message for the next page.
	Flash string `json:"f,omitempty"`
}

// codec seals sessions into cookies.
type codec struct{ sc *securecookie.SecureCookie }

// newCodec derives the cookie's authentication and encryption keys from key
// with HKDF-SHA256.
func newCodec(key []byte) (*codec, error) {
	if len(key) < 32 {
		return nil, errors.New("storefront: the session key needs at least 32 bytes")
	}
	hashKey, err := hkdf.Key(sha256.New, key, nil, "kitshop storefront session: authentication", 32)
	if err != nil {
		return nil, err
	}
	blockKey, err := hkdf.Key(sha256.New, key, nil, "kitshop storefront session: encryption", 32)
	if err != nil {
		return nil, err
	}
	sc := securecookie.New(hashKey, blockKey).SetSerializer(securecookie.JSONEncoder{})
	sc.MaxAge(int(sessionMaxAge / time.Second))
	return &codec{sc: sc}, nil
}

// visit is one request to the storefront with its session.
type visit struct {
	s    *Storefront
	w    http.ResponseWriter
	r    *http.Request
	sess session
	// dirty says sess changed and must be sent back before the answer.
	dirty bool
	// user is the signed-in user, once looked up (loaded).
	user   *apiUser
	loaded bool
}

// newVisit reads the session of r's cookie; a missing, forged or expired
// cookie is an empty session.
func (s *Storefront) newVisit(w http.ResponseWriter, r *http.Request) *visit {
	v := &visit{s: s, w: w, r: r}
	if c, err := r.Cookie(cookieName); err == nil {
		if err := s.codec.sc.Decode(cookieName, c.Value, &v.sess); err != nil {
			v.sess = session{}
		}
	}
	return v
}

// csrf returns the session's form token, making one for a new visitor.
func (v *visit) csrf() string {
	if v.sess.CSRF == "" {
		v.sess.CSRF = rand.Text()
		v.dirty = true
	}
	return v.sess.CSRF
}

// validForm parses the posted form and reports whether it carries the
// session's CSRF token.
func (v *visit) validForm() bool {
	if err := v.r.ParseForm(); err != nil {
		return false
	}
	got := v.r.PostFormValue("csrf")
	return v.sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(v.sess.CSRF)) == 1
}

// save sends the session back when it changed; it must run before the
// answer's header is written.
func (v *visit) save() {
	if !v.dirty {
		return
	}
	v.dirty = false
	c := &http.Cookie{
		Name:     cookieName,
		Path:     "/",
		HttpOnly: true,
		Secure:   v.s.secure || v.r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	}
	if v.sess.Access != "" {
		c.MaxAge = int(sessionMaxAge / time.Second)
	}
	value, err := v.s.codec.sc.Encode(cookieName, v.sess)
	if err != nil {
		v.s.logger.ErrorContext(v.r.Context(), "storefront: seal the session", "err", err)
		return
	}
	c.Value = value
	http.SetCookie(v.w, c)
}

// signIn starts a signed-in session with the pair, with a new CSRF token.
func (v *visit) signIn(p tokenPair) {
	v.sess = session{CSRF: rand.Text()}
	v.setTokens(p)
	v.user, v.loaded = nil, false
}

func (v *visit) setTokens(p tokenPair) {
	v.sess.Access, v.sess.Refresh = p.AccessToken, p.RefreshToken
	v.sess.Expires = time.Now().Add(time.Duration(p.ExpiresIn) * time.Second).Unix()
	v.dirty = true
}

// signOut forgets the tokens and starts over with a new CSRF token.
func (v *visit) signOut() {
	v.sess = session{CSRF: rand.Text(), Flash: v.sess.Flash}
	v.user, v.loaded = nil, true
	v.dirty = true
}

// flash leaves a message for the next page.
func (v *visit) flash(msg string) {
	v.sess.Flash = msg
	v.dirty = true
}

// takeFlash returns and forgets the message left for this page.
func (v *visit) takeFlash() string {
	f := v.sess.Flash
	if f != "" {
		v.sess.Flash = ""
		v.dirty = true
	}
	return f
}

// currentUser returns the signed-in user, or nil. It asks the API (GET
// /users/me) on every request, renewing the access token first when it is
// about to expire: a session ended by a log-out (here or anywhere), an
// expired refresh token or a deleted user signs the visitor out at once,
// whatever their cookie says. An error is the API failing otherwise.
func (v *visit) currentUser() (*apiUser, error) {
	if v.loaded {
		return v.user, nil
	}
	if v.sess.Access == "" {
		v.loaded = true
		return nil, nil
	}
	if time.Now().Add(refreshEarly).Unix() >= v.sess.Expires {
		var p tokenPair
		in, err := v.sessionCall(call{method: http.MethodPost, path: "/auth/refresh", body: map[string]string{"refreshToken": v.sess.Refresh}}, &p)
		if !in {
			return nil, err
		}
		v.setTokens(p)
	}
	var u apiUser
	if in, err := v.sessionCall(call{method: http.MethodGet, path: "/users/me", token: v.sess.Access}, &u); !in {
		return nil, err
	}
	v.user, v.loaded = &u, true
	return v.user, nil
}

// sessionCall makes a call that only a live session passes: a 401 signs the
// visitor out. in says the session is still signed in (and err is nil).
func (v *visit) sessionCall(c call, out any) (in bool, err error) {
	err = v.s.api.do(v.r, c, out)
	if statusOf(err) == http.StatusUnauthorized {
		v.signOut()
		return false, nil
	}
	return err == nil, err
}

// localPath returns next when it is a path of this site, else "/": a
// log-in's ?next= never sends the visitor elsewhere.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
