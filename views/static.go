package views

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// staticFS holds views/static, including dist/ written by `npm run build`. Without a
// build only .gitkeep is there: pages still render, and asset requests get 404.
//
//go:embed all:static
var staticFS embed.FS

// hashLen is how many hex digits of the SHA-256 go into ?v=.
const hashLen = 10

// staticFile is one servable file with its content hash.
type staticFile struct {
	data []byte
	hash string

	gzipOnce sync.Once
	gzipped  []byte // nil when compression does not pay
}

// staticFiles is an immutable set of files, keyed by slash path ("dist/admin.js").
type staticFiles struct {
	files map[string]*staticFile
}

// newStaticFiles reads and hashes every regular file of fsys. Dot files (.gitkeep)
// are skipped.
func newStaticFiles(fsys fs.FS) (*staticFiles, error) {
	s := &staticFiles{files: map[string]*staticFile{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != "." {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		s.files[p] = &staticFile{data: data, hash: hex.EncodeToString(sum[:])[:hashLen]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

var defaultStatic = sync.OnceValue(func() *staticFiles {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("views: static: " + err.Error())
	}
	s, err := newStaticFiles(sub)
	if err != nil {
		panic("views: static: " + err.Error())
	}
	return s
})

// url is the public URL of a static file, with ?v=<hash> when the file exists.
func (s *staticFiles) url(name string) string {
	u := "/static/" + name
	if f, ok := s.files[name]; ok {
		u += "?v=" + f.hash
	}
	return u
}

func (s *staticFiles) assets() Assets {
	return Assets{
		PolarisCSS: s.url("dist/polaris.css"),
		AppCSS:     s.url("dist/app.css"),
		AdminJS:    s.url("dist/admin.js"),
		HtmxJS:     s.url("dist/htmx.min.js"),
		ChartsJS:   s.url("dist/charts.js"),
		EditorJS:   s.url("dist/editor.js"),
		Favicon:    s.url("favicon.svg"),
	}
}

// StaticAssets returns the URLs of the built admin assets with ?v= cache-busting
// hashes (first 10 hex digits of the SHA-256 of each embedded file, computed once).
func StaticAssets() Assets {
	return defaultStatic().assets()
}

// StaticHandler serves the embedded static files under /static/ (mount it at
// /static/*; it also works behind http.StripPrefix("/static", …)). A request whose
// ?v= matches the file's hash is cacheable for a year ("immutable"); any other is
// served with "no-cache". Missing files get 404.
func StaticHandler() http.Handler {
	return defaultStatic()
}

var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".map":   "application/json; charset=utf-8",
	".json":  "application/json; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible reports whether a file is text worth gzipping.
func compressible(name string, size int) bool {
	if size < 1024 {
		return false
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".css", ".js", ".mjs", ".map", ".json", ".svg", ".txt":
		return true
	}
	return false
}

func (f *staticFile) gzipData() []byte {
	f.gzipOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(f.data)
		if zw.Close() == nil && b.Len() < len(f.data) {
			f.gzipped = b.Bytes()
		}
	})
	return f.gzipped
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(strings.ReplaceAll(q, " ", "")) != "q=0" {
			return true
		}
	}
	return false
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	name = strings.TrimPrefix(name, "/")
	f, ok := s.files[name]
	if !ok || name == "" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}

	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}

	data, etag := f.data, `"`+f.hash+`"`
	if compressible(name, len(f.data)) {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			if gz := f.gzipData(); gz != nil {
				data, etag = gz, `"`+f.hash+`-gzip"`
				h.Set("Content-Encoding", "gzip")
			}
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}
