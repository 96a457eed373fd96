// Command pgctl starts or stops the project's private PostgreSQL cluster
// (the one `cartwheel dev` and the tests use when DATABASE_URL is unset).
package main

import (
	"fmt"
	"os"

	"github.com/cartwheel/cartwheel/app/db"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "start" && os.Args[1] != "stop") {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/pgctl start|stop")
		os.Exit(2)
	}
	root, err := db.ProjectRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgctl:", err)
		os.Exit(1)
	}
	c := db.NewLocalCluster(root)
	if os.Args[1] == "start" {
		err = c.Ensure()
		if err == nil {
			fmt.Println(c.URL("postgres"))
		}
	} else {
		err = c.Stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgctl:", err)
		os.Exit(1)
	}
}
