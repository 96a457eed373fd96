package db

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LocalCluster is a private PostgreSQL cluster under the project's .data
// folder, for `cartwheel dev` and the tests when DATABASE_URL is unset. It
// listens on 127.0.0.1 only and trusts local connections, so it must never be
// used for anything but development.
type LocalCluster struct {
	Dir  string // data folder
	Port int
}

// NewLocalCluster places the cluster under root/.data/postgres. Its port is
// derived from the checkout's path (54000–54999, clear of a system PostgreSQL
// on 5432), so two checkouts on one machine don't collide; CARTWHEEL_PG_PORT
// overrides it.
func NewLocalCluster(root string) *LocalCluster {
	h := fnv.New32a()
	h.Write([]byte(root))
	port := 54000 + int(h.Sum32()%1000)
	if p, err := strconv.Atoi(os.Getenv("CARTWHEEL_PG_PORT")); err == nil && p > 0 {
		port = p
	}
	dir := filepath.Join(root, ".data", "postgres")
	if os.Geteuid() == 0 && !postgresCanReach(root) {
		// As root the cluster belongs to the postgres user, which cannot
		// enter a checkout inside a private folder (mktemp -d is 0700).
		dir = filepath.Join("/var/tmp", fmt.Sprintf("cartwheel-pg-%08x", h.Sum32()), "postgres")
	}
	return &LocalCluster{Dir: dir, Port: port}
}

// postgresCanReach reports whether the postgres system user can enter dir
// (access(2) checks every folder on the way).
func postgresCanReach(dir string) bool {
	cmd := exec.Command("runuser", "-u", "postgres", "--", "test", "-x", dir)
	cmd.Dir = "/"
	return cmd.Run() == nil
}

// URL is the superuser URL for database name.
func (c *LocalCluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}

// Ensure initialises the cluster if needed and starts it if it is not
// running. Concurrent callers (parallel test binaries) are serialised with a
// file lock.
func (c *LocalCluster) Ensure() error {
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	lock, err := os.OpenFile(c.Dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("localpg: lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("localpg: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	bin, err := pgBinDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(bin); err != nil {
			return err
		}
	}
	if c.run(bin, "pg_ctl", "status", "-D", c.Dir) == nil {
		return nil
	}
	// A crash can leave a stale pid file behind; pg_ctl start handles that.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB", c.Port, c.socketDir())
	if err := c.run(bin, "pg_ctl", "start", "-w", "-t", "60", "-D", c.Dir, "-l", c.logFile(), "-o", opts); err != nil {
		log, _ := os.ReadFile(c.Dir + ".log")
		return fmt.Errorf("localpg: start (port %d; set CARTWHEEL_PG_PORT to move it): %w\n%s", c.Port, err, tail(string(log), 1500))
	}
	return nil
}

// Stop shuts the cluster down (fast mode).
func (c *LocalCluster) Stop() error {
	bin, err := pgBinDir()
	if err != nil {
		return err
	}
	if c.run(bin, "pg_ctl", "status", "-D", c.Dir) != nil {
		return nil
	}
	return c.run(bin, "pg_ctl", "stop", "-m", "fast", "-D", c.Dir)
}

func (c *LocalCluster) socketDir() string { return c.Dir + ".run" }

func (c *LocalCluster) initdb(bin string) error {
	for _, d := range []string{c.Dir, c.socketDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		if err := c.chownToPostgres(d); err != nil {
			return err
		}
	}
	if err := c.run(bin, "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"); err != nil {
		return fmt.Errorf("localpg: initdb: %w", err)
	}
	return nil
}

// initdb and postgres refuse to run as root, so as root the cluster belongs
// to the postgres system user.
func (c *LocalCluster) chownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("localpg: running as root needs a 'postgres' system user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("localpg: chown %s: %w", dir, err)
	}
	return nil
}

func (c *LocalCluster) run(bin, name string, args ...string) error {
	path := filepath.Join(bin, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/" // the postgres user may not be allowed into the caller's folder
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(string(out), 800))
	}
	return nil
}

// pgBinDir finds the PostgreSQL server binaries (Debian keeps them off PATH).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", errors.New("localpg: PostgreSQL server binaries not found: install them (apt-get install postgresql) or set DATABASE_URL")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ProjectRoot walks up from the working directory to the folder holding
// go.mod, so tests in any package share one cluster.
func ProjectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// The log sits in the socket folder because, as root, only the postgres user
// can write there.
func (c *LocalCluster) logFile() string { return filepath.Join(c.socketDir(), "postgres.log") }
