package seed_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/shops"
)

func TestDemoShopIsInstalledAndRerunnable(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	st := shops.NewStore(d, box)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		sh, err := seed.DemoShop(ctx, d, st, "demo.myshopify.com")
		if err != nil {
			t.Fatal(err)
		}
		if !sh.Installed() || sh.Name != "Demo Store" || sh.IanaTimezone != "America/New_York" {
			t.Fatalf("demo shop: %+v", sh)
		}
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM shops")
	if n != 1 {
		t.Fatalf("seeding twice made %d shops", n)
	}
	settings, _ := st.Settings(ctx, 1)
	if len(settings.Missing()) != 3 {
		t.Fatal("the demo shop should start with the settings checklist open")
	}
}
