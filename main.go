// Command cartwheel is the whole app in one binary:
//
//	cartwheel serve              HTTP server (and job workers unless RUN_WORKERS=false)
//	cartwheel work               job workers only
//	cartwheel migrate up|down|status
//	cartwheel dev                local PostgreSQL, migrations, a demo shop, and serve on :8080
//	cartwheel seed --shop DOMAIN install a demo shop with a placeholder token (development)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/server"
)

const usage = `usage: cartwheel <command>

commands:
  serve                 run the HTTP server (and the job workers unless RUN_WORKERS=false)
  work                  run the job workers only
  migrate up|down|status
                        apply, roll back one, or list database migrations
  dev                   start a local PostgreSQL (when DATABASE_URL is unset), migrate,
                        create the demo shop and serve on http://localhost:8080
  seed --shop DOMAIN    install a demo shop with a placeholder token (development only);
                        --customers N adds a synthetic store, --bulk writes it in SQL at
                        benchmark sizes (--events-per-customer, --emails-per-customer)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, true)
	case "work":
		err = serve(ctx, false)
	case "migrate":
		err = migrate(ctx, os.Args[2:])
	case "dev":
		err = dev(ctx)
	case "seed":
		err = seedCmd(ctx, os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "cartwheel: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "cartwheel:", err)
		os.Exit(1)
	}
}

func newLogger(cfg *config.Config) *slog.Logger {
	if cfg.Dev() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// serve runs the HTTP server with workers (web=true) or the workers alone.
func serve(ctx context.Context, web bool) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	return run(ctx, cfg, web)
}

func run(ctx context.Context, cfg *config.Config, web bool) error {
	log := newLogger(cfg)
	slog.SetDefault(log)
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer d.Close()
	app, err := server.New(cfg, d, log, server.Options{})
	if err != nil {
		return err
	}
	if !web {
		return app.Work(ctx)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("listen on PORT=%d: %w (set PORT to a free port)", cfg.Port, err)
	}
	return app.Serve(ctx, ln, cfg.RunWorkers)
}

func migrate(ctx context.Context, args []string) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return errors.New("migrate needs one of: up, down, status (e.g. `cartwheel migrate up`)")
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return &config.Error{Problems: []string{"DATABASE_URL is not set: use a PostgreSQL URL such as postgres://user:pass@localhost:5432/cartwheel?sslmode=disable"}}
	}
	d, err := db.Open(ctx, url)
	if err != nil {
		return err
	}
	defer d.Close()
	switch args[0] {
	case "up":
		if err := db.MigrateUp(ctx, d.DB); err != nil {
			return err
		}
		fmt.Println("migrations applied")
	case "down":
		if err := db.MigrateDown(ctx, d.DB); err != nil {
			return err
		}
		fmt.Println("rolled back the newest migration")
	case "status":
		return db.MigrateStatus(ctx, d.DB, os.Stdout)
	}
	return nil
}
