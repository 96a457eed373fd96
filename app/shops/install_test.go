package shops_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
)

// installWithFake installs shop with a token the fake Admin API really issued.
func installWithFake(t *testing.T, viaAPI bool) (*shops.Store, *shopifytest.Server, *shops.PostInstallWorker, shops.Shop) {
	t.Helper()
	s, d := newStore(t)
	fake := shopifytest.NewServer(t, "key", "secret")
	const shop = "post-install.myshopify.com"
	fake.AddShop(shopify.ShopInfo{Name: "Post Install", Email: "o@p.test", MyshopifyDomain: shop,
		IanaTimezone: "Australia/Sydney", CurrencyCode: "AUD", PlanName: "Advanced"})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL})
	tok, err := client.ExchangeCode(context.Background(), shop, fake.IssueCode(shop))
	if err != nil {
		t.Fatal(err)
	}
	sh := install(t, s, d, shop, tok.Token, time.Now())
	w := shops.NewPostInstallWorker(s, client, shops.WebhookPlan{
		CallbackURL: "https://cartwheel.test/webhooks", Topics: []string{"app/uninstalled"}, ViaAPI: viaAPI,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s, fake, w, sh
}

func work(t *testing.T, w *shops.PostInstallWorker, shopID int64) {
	t.Helper()
	job := &river.Job[shops.PostInstallArgs]{JobRow: &rivertype.JobRow{}, Args: shops.PostInstallArgs{ShopID: shopID}}
	if err := w.Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

func TestPostInstallStoresShopDetails(t *testing.T) {
	s, fake, w, sh := installWithFake(t, false)
	work(t, w, sh.ID)
	got, _ := s.ByID(context.Background(), sh.ID)
	if got.Name != "Post Install" || got.IanaTimezone != "Australia/Sydney" || got.Currency != "AUD" || !got.WebhooksCheckedAt.Valid {
		t.Fatalf("shop details not stored: %+v", got)
	}
	// Subscriptions come from shopify.app.toml: nothing is created per shop.
	if subs := fake.Subscriptions(sh.Domain); len(subs) != 0 {
		t.Fatalf("created %d shop-scoped subscriptions without ViaAPI", len(subs))
	}
}

func TestPostInstallCreatesMissingWebhooksViaAPI(t *testing.T) {
	_, fake, w, sh := installWithFake(t, true)
	work(t, w, sh.ID)
	subs := fake.Subscriptions(sh.Domain)
	if len(subs) != 1 || subs[0].Topic != "APP_UNINSTALLED" || subs[0].CallbackURL != "https://cartwheel.test/webhooks" {
		t.Fatalf("subscriptions: %+v", subs)
	}
	// Running again (a reinstall) does not duplicate them.
	work(t, w, sh.ID)
	if n := len(fake.Subscriptions(sh.Domain)); n != 1 {
		t.Fatalf("second run created duplicates: %d", n)
	}
}

func TestPostInstallSkipsUninstalledShop(t *testing.T) {
	s, fake, w, sh := installWithFake(t, true)
	uninstall(t, s, s.DB(), sh.Domain, time.Now())
	before := len(fake.Requests())
	work(t, w, sh.ID)
	if len(fake.Requests()) != before {
		t.Fatal("post-install called Shopify for an uninstalled shop")
	}
}

func TestPostInstallActivatesWebPixel(t *testing.T) {
	_, fake, w, sh := installWithFake(t, false)
	fake.RequiredPixelSettings("ingestUrl", "shop")
	w.PixelSettings = func(shop string) map[string]string {
		return map[string]string{"ingestUrl": "https://cartwheel.test/ingest", "shop": shop}
	}
	work(t, w, sh.ID)
	p, ok := fake.WebPixel(sh.Domain)
	if !ok || p.Settings["ingestUrl"] != "https://cartwheel.test/ingest" || p.Settings["shop"] != sh.Domain {
		t.Fatalf("pixel %+v", p)
	}
	// A reinstall finds the pixel taken and updates it.
	w.PixelSettings = func(shop string) map[string]string {
		return map[string]string{"ingestUrl": "https://new.cartwheel.test/ingest", "shop": shop}
	}
	work(t, w, sh.ID)
	if p2, _ := fake.WebPixel(sh.Domain); p2.ID != p.ID || p2.Settings["ingestUrl"] != "https://new.cartwheel.test/ingest" {
		t.Fatalf("pixel after reinstall %+v", p2)
	}
	// Settings that don't match the extension's definition fail the job.
	w.PixelSettings = func(string) map[string]string { return map[string]string{"ingestUrl": ""} }
	job := &river.Job[shops.PostInstallArgs]{JobRow: &rivertype.JobRow{}, Args: shops.PostInstallArgs{ShopID: sh.ID}}
	if err := w.Work(context.Background(), job); err == nil {
		t.Fatal("invalid pixel settings must fail the post-install job")
	}
}

// A store on its own domain sends storefront requests from that origin:
// the post-install job records it for CORS.
func TestPostInstallRecordsStorefrontOrigin(t *testing.T) {
	s, fake, w, sh := installWithFake(t, false)
	fake.AddShop(shopify.ShopInfo{Name: "Post Install", MyshopifyDomain: sh.Domain, IanaTimezone: "UTC",
		CurrencyCode: "EUR", PrimaryDomainURL: "https://www.Acme-Outfitters.test"})
	work(t, w, sh.ID)
	got, _ := s.ByID(context.Background(), sh.ID)
	if len(got.StorefrontOrigins) != 1 || got.StorefrontOrigins[0] != "https://www.acme-outfitters.test" {
		t.Fatalf("origins %v", got.StorefrontOrigins)
	}
	if ok, _ := s.KnownStorefrontOrigin(context.Background(), "https://www.acme-outfitters.test"); !ok {
		t.Fatal("the custom domain is not a known storefront origin")
	}
}
