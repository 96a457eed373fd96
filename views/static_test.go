package views

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testStatic(t *testing.T) *staticFiles {
	t.Helper()
	css := strings.Repeat(".Polaris-Page{margin:0 auto}\n", 200)
	s, err := newStaticFiles(fstest.MapFS{
		".gitkeep":         {Data: nil},
		"dist/polaris.css": {Data: []byte(css)},
		"dist/admin.js":    {Data: []byte("console.log(1)")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(h http.Handler, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestStaticAssetsURLs(t *testing.T) {
	s := testStatic(t)
	a := s.assets()
	if !strings.HasPrefix(a.AdminJS, "/static/dist/admin.js?v=") || len(a.AdminJS) != len("/static/dist/admin.js?v=")+hashLen {
		t.Errorf("AdminJS = %q", a.AdminJS)
	}
	if a.HtmxJS != "/static/dist/htmx.min.js" {
		t.Errorf("missing file should get a plain URL, got %q", a.HtmxJS)
	}
	// The real embedded set must always load, built or not.
	if got := StaticAssets(); !strings.HasPrefix(got.PolarisCSS, "/static/dist/polaris.css") {
		t.Errorf("StaticAssets().PolarisCSS = %q", got.PolarisCSS)
	}
}

func TestStaticHandlerCaching(t *testing.T) {
	s := testStatic(t)
	hash := s.files["dist/admin.js"].hash

	w := get(s, "/static/dist/admin.js?v="+hash, nil)
	if w.Code != 200 || w.Body.String() != "console.log(1)" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("matching ?v=: Cache-Control = %q", cc)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}

	for _, target := range []string{"/static/dist/admin.js", "/static/dist/admin.js?v=0000000000"} {
		w = get(s, target, nil)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: code %d, Cache-Control %q; want 200 no-cache", target, w.Code, w.Header().Get("Cache-Control"))
		}
	}

	// Behind http.StripPrefix("/static", …) too.
	w = get(http.StripPrefix("/static", s), "/static/dist/admin.js?v="+hash, nil)
	if w.Code != 200 || w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("behind StripPrefix: %d %q", w.Code, w.Header().Get("Cache-Control"))
	}

	// Conditional request.
	etag := get(s, "/static/dist/admin.js", nil).Header().Get("ETag")
	if w = get(s, "/static/dist/admin.js", map[string]string{"If-None-Match": etag}); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: got %d", w.Code)
	}
}

func TestStaticHandlerNotFound(t *testing.T) {
	s := testStatic(t)
	for _, target := range []string{"/static/dist/nope.js", "/static/.gitkeep", "/static/dist", "/static/", "/static/../views.go", "/static/dist/../dist/admin.js"} {
		if w := get(s, target, nil); w.Code != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", target, w.Code)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/static/dist/admin.js", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d", w.Code)
	}
}

func TestStaticHandlerGzip(t *testing.T) {
	s := testStatic(t)
	w := get(s, "/static/dist/polaris.css", map[string]string{"Accept-Encoding": "gzip, br"})
	if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("headers: %v", w.Header())
	}
	zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !bytes.Equal(body, s.files["dist/polaris.css"].data) {
		t.Errorf("gzip body differs")
	}
	if w := get(s, "/static/dist/polaris.css", nil); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip without Accept-Encoding")
	}
}
