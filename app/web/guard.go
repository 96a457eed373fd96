package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/input"
)

// maxAdminBody bounds every request body under /app and /api, and every
// form post anywhere: admin forms are a few kilobytes (a template with many
// blocks stays far below), so a larger body is a mistake or an attack and
// is refused before it is read, let alone spooled to disk. The CSV upload
// has its own, larger limit (customers.MaxImportBytes).
const maxAdminBody = 1 << 20

// guard runs before every handler. It sets the security headers and
// refuses, with a 4xx naming the problem, what no handler can use: a body
// over the limit, and text that PostgreSQL can't store (NUL bytes, invalid
// UTF-8) in the path, the query string or a posted form. Handlers then see
// only storable text; numbers are checked where they are parsed (app/input).
func (s *server) guard() gin.HandlerFunc {
	return func(c *gin.Context) {
		s.securityHeaders(c)
		r := c.Request
		if p := input.Problem(r.URL.Path); p != "" {
			s.refuse(c, http.StatusBadRequest, "The address "+p+".")
			return
		}
		for k, vs := range r.URL.Query() {
			if msg := valuesProblem("query parameter", k, vs); msg != "" {
				s.refuse(c, http.StatusBadRequest, msg)
				return
			}
		}
		upload := c.FullPath() == "/app/customers/import" && r.Method == http.MethodPost
		admin := r.URL.Path == "/app" || strings.HasPrefix(r.URL.Path, "/app/") || strings.HasPrefix(r.URL.Path, "/api/")
		form := isForm(r)
		if upload || (!admin && !form) {
			c.Next()
			return
		}
		if r.ContentLength > maxAdminBody {
			s.tooLarge(c)
			return
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxAdminBody)
		if form {
			// Parse here, where a body over the limit can still get its 413:
			// gin's PostForm would silently see an empty form instead.
			err := r.ParseMultipartForm(maxAdminBody)
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				s.tooLarge(c)
				return
			case err != nil && !errors.Is(err, http.ErrNotMultipart):
				s.refuse(c, http.StatusBadRequest, "The form could not be read: "+err.Error()+".")
				return
			}
			for k, vs := range r.PostForm {
				if msg := valuesProblem("form field", k, vs); msg != "" {
					s.refuse(c, http.StatusBadRequest, msg)
					return
				}
			}
			if r.MultipartForm != nil {
				for k, fhs := range r.MultipartForm.File {
					for _, fh := range fhs {
						if msg := valuesProblem("file name of", k, []string{fh.Filename}); msg != "" {
							s.refuse(c, http.StatusBadRequest, msg)
							return
						}
					}
				}
			}
		}
		c.Next()
	}
}

func valuesProblem(what, key string, values []string) string {
	if p := input.Problem(key); p != "" {
		return fmt.Sprintf("A %s name %s.", what, p)
	}
	for _, v := range values {
		if p := input.Problem(v); p != "" {
			return fmt.Sprintf("The %s %q %s.", what, key, p)
		}
	}
	return ""
}

func isForm(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

func (s *server) tooLarge(c *gin.Context) {
	c.Header("Connection", "close") // don't read the rest of a huge body
	s.refuse(c, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The request is larger than %d KB, the limit for this form.", maxAdminBody>>10))
}

// refuse answers a 4xx with msg: JSON for scripts (htmx, /api, the
// storefront and webhook endpoints), the error page for a browser.
func (s *server) refuse(c *gin.Context, status int, msg string) {
	p := c.Request.URL.Path
	if c.GetHeader("HX-Request") != "" || strings.Contains(c.GetHeader("Accept"), "application/json") ||
		!(p == "/" || p == "/app" || strings.HasPrefix(p, "/app/") || strings.HasPrefix(p, "/u/") ||
			strings.HasPrefix(p, "/t/") || strings.HasPrefix(p, "/email/")) {
		c.AbortWithStatusJSON(status, gin.H{"error": msg})
		return
	}
	s.renderError(c, status, msg)
	c.Abort()
}

// securityHeaders: no content sniffing anywhere; HSTS in production (the
// app is only ever reached over https there); the public pages a shopper
// opens from an email (unsubscribe, click errors, sender confirmation) are
// never framed. Admin pages get their CSP in setFrameAncestors.
func (s *server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !s.Config.Dev() {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	p := c.Request.URL.Path
	if strings.HasPrefix(p, "/u/") || strings.HasPrefix(p, "/t/") || strings.HasPrefix(p, "/email/verify/") {
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'; object-src 'none'; base-uri 'none'")
	}
}

const nonceKey = "cartwheel.cspNonce"

// cspNonce is this request's script nonce, also put in the request context
// where templ finds it (templ.GetNonce) for the few inline scripts.
func cspNonce(c *gin.Context) string {
	if v, ok := c.Get(nonceKey); ok {
		return v.(string)
	}
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	n := base64.StdEncoding.EncodeToString(b)
	c.Set(nonceKey, n)
	c.Request = c.Request.WithContext(templ.WithNonce(c.Request.Context(), n))
	return n
}

// metricsAuth guards /metrics with METRICS_TOKEN when one is configured.
func (s *server) metricsAuth(c *gin.Context) {
	want := s.Config.MetricsToken
	if want == "" {
		c.Next()
		return
	}
	got, ok := bearer(c.Request)
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="metrics"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "send Authorization: Bearer <METRICS_TOKEN>"})
		return
	}
	c.Next()
}
