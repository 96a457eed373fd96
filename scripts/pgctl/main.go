// Command pgctl manages the project's private PostgreSQL cluster (the one
// `cartwheel dev` and the tests use when DATABASE_URL is unset):
//
//	go run ./scripts/pgctl start          start it; prints the superuser URL
//	go run ./scripts/pgctl stop
//	go run ./scripts/pgctl createdb NAME  start it, create a fresh database NAME; prints its URL
//	go run ./scripts/pgctl dropdb NAME    drop database NAME (test clean-up)
package main

import (
	"context"
	"fmt"
	"os"
	"regexp"

	"github.com/cartwheel/cartwheel/app/db"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgctl:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	root, err := db.ProjectRoot()
	if err != nil {
		return err
	}
	c := db.NewLocalCluster(root)
	switch {
	case len(args) == 1 && args[0] == "start":
		if err := c.Ensure(); err != nil {
			return err
		}
		fmt.Println(c.URL("postgres"))
	case len(args) == 1 && args[0] == "stop":
		return c.Stop()
	case len(args) == 2 && args[0] == "createdb":
		if !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`).MatchString(args[1]) {
			return fmt.Errorf("database name %q: use lower-case letters, digits and _", args[1])
		}
		if err := c.Ensure(); err != nil {
			return err
		}
		admin, err := db.Open(context.Background(), c.URL("postgres"))
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + args[1] + " WITH (FORCE)"); err != nil {
			return err
		}
		if _, err := admin.Exec("CREATE DATABASE " + args[1]); err != nil {
			return err
		}
		fmt.Println(c.URL(args[1]))
	case len(args) == 2 && args[0] == "dropdb":
		if !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`).MatchString(args[1]) {
			return fmt.Errorf("database name %q: use lower-case letters, digits and _", args[1])
		}
		admin, err := db.Open(context.Background(), c.URL("postgres"))
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.Exec("DROP DATABASE IF EXISTS " + args[1] + " WITH (FORCE)")
		return err
	default:
		return fmt.Errorf("usage: go run ./scripts/pgctl start | stop | createdb NAME | dropdb NAME")
	}
	return nil
}
