package lifecycle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/lifecycle"
)

func TestZZPrint(t *testing.T) {
	loc, _ := time.LoadLocation("America/New_York")
	w := lifecycle.WindowEnding(time.Now(), loc)
	arg := func(v any) string { return "'" + v.(time.Time).Format(time.RFC3339) + "'::timestamptz" }
	fmt.Println("WITH lf AS MATERIALIZED (" + lifecycle.LevelsSQL(w, "1", arg, "") + ") SELECT count(*) FILTER (WHERE level >= 2), count(*) FILTER (WHERE level >= 3), count(*) FROM lf;")
}
