// Package dbtest gives each test its own migrated PostgreSQL database, cloned
// from a template so the cost is one CREATE DATABASE, not a migration run.
// It uses DATABASE_URL when set (the role needs CREATEDB) and otherwise the
// project's private local cluster, started on demand.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/migrations"
)

var (
	setupOnce sync.Once
	baseURL   *url.URL
	template  string
	setupErr  error
)

// New returns a fresh, fully migrated database, dropped when the test ends.
// The test then runs in parallel with the package's other database tests
// (t.Parallel): nothing is shared between them but the template.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	d, _ := NewWithURL(t)
	return d
}

// NewWithURL is New that also returns the database's URL, for code under
// test that opens its own connections (the River client, the binary).
func NewWithURL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	parallelize(t)
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("dbtest: %v", setupErr)
	}
	ctx := context.Background()
	admin, err := db.Open(ctx, withDB(baseURL, "postgres"))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer admin.Close()
	name := "cartwheel_t_" + randHex(6)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	u := withDB(baseURL, name)
	d, err := db.Open(ctx, u)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		d.Close()
		admin, err := db.Open(context.Background(), withDB(baseURL, "postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return d, u
}

var parallel sync.Map // *testing.T → already parallel

// parallelize lets the test run alongside the other tests of its package
// that have a database, which is safe because each has its own. A test that
// asks for two databases calls t.Parallel once; benchmarks and fuzz targets
// are left alone. (A test that needs t.Setenv can't be parallel: Go panics
// saying so. Set the variable in the code under test's config instead.)
func parallelize(t testing.TB) {
	tt, ok := t.(*testing.T)
	if !ok {
		return
	}
	if _, done := parallel.LoadOrStore(tt, true); !done {
		tt.Parallel()
	}
}

func setup() error {
	raw := os.Getenv("DATABASE_URL")
	if raw == "" {
		root, err := db.ProjectRoot()
		if err != nil {
			return err
		}
		c := db.NewLocalCluster(root)
		if err := c.Ensure(); err != nil {
			return err
		}
		raw = c.URL("postgres")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	baseURL = u
	template = "cartwheel_tpl_" + migrationsHash()
	return ensureTemplate()
}

// ensureTemplate builds the template once per schema version. Parallel test
// binaries race for it, so one builds under an advisory lock and publishes it
// by renaming, which is atomic.
func ensureTemplate() error {
	ctx := context.Background()
	admin, err := db.Open(ctx, withDB(baseURL, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close()
	conn, err := admin.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return err
	}
	defer conn.ExecContext(ctx, "SELECT pg_advisory_unlock(727274)")

	var exists bool
	if err := conn.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", template); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := template + "_building"
	conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building))
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	t, err := db.Open(ctx, withDB(baseURL, building))
	if err != nil {
		return err
	}
	err = db.MigrateUp(ctx, t.DB)
	t.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, template)); err != nil {
		return fmt.Errorf("publish template: %w", err)
	}
	return nil
}

// migrationsHash names the template after the schema, so a changed migration
// gets a new template rather than a stale one.
func migrationsHash() string {
	h := sha256.New()
	fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	h.Write([]byte("river-v0.41.0"))
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDB(u *url.URL, name string) string {
	c := *u
	c.Path = "/" + name
	return c.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Persistent opens the database name in the test cluster (DATABASE_URL or
// the local one), creating it if missing, and migrates it up; it is kept
// when the test ends. It is for benchmarks whose data takes minutes to seed.
// With reset the database is dropped and created empty first. The URL is
// returned for psql and for code that opens its own connections.
func Persistent(tb testing.TB, name string, reset bool) (*sqlx.DB, string) {
	tb.Helper()
	if !persistentNameRe.MatchString(name) {
		tb.Fatalf("dbtest: database name %q: use lower-case letters, digits and _", name)
	}
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		tb.Fatalf("dbtest: %v", setupErr)
	}
	ctx := context.Background()
	admin, err := db.Open(ctx, withDB(baseURL, "postgres"))
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	defer admin.Close()
	if reset {
		// name is checked against persistentNameRe above: safe as an identifier.
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Fatalf("dbtest: drop %s: %v", name, err)
		}
	}
	var exists bool
	if err := admin.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			tb.Fatalf("dbtest: create %s: %v", name, err)
		}
	}
	u := withDB(baseURL, name)
	d, err := db.Open(ctx, u)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	// New migrations (indexes, say) apply to a kept database too.
	if err := db.MigrateUp(ctx, d.DB); err != nil {
		d.Close()
		tb.Fatalf("dbtest: migrate %s: %v", name, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d, u
}

var persistentNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
