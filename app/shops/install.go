package shops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shopify"
)

// AdminAPI is the part of the Shopify Admin API the install needs.
type AdminAPI interface {
	ShopInfo(ctx context.Context, shop, token string) (shopify.ShopInfo, error)
	WebhookSubscriptions(ctx context.Context, shop, token string) ([]shopify.WebhookSubscription, error)
	CreateWebhookSubscription(ctx context.Context, shop, token, topic, callbackURL string) (shopify.WebhookSubscription, error)
	PixelAPI
}

// Installer completes installs: it stores the token and enqueues the
// post-install job in one transaction.
type Installer struct {
	store *Store
	jobs  jobs.Inserter
}

// NewInstaller returns an Installer.
func NewInstaller(store *Store, j jobs.Inserter) *Installer {
	return &Installer{store: store, jobs: j}
}

// Complete records the install and schedules the shop details and webhook
// check.
func (in *Installer) Complete(ctx context.Context, domain string, token shopify.AccessToken) (Shop, error) {
	tx, err := in.store.db.BeginTxx(ctx, nil)
	if err != nil {
		return Shop{}, fmt.Errorf("shops: install %s: %w", domain, err)
	}
	defer tx.Rollback()
	sh, err := in.store.Install(ctx, tx, domain, token.Token, token.Scope, time.Now())
	if err != nil {
		return Shop{}, err
	}
	if _, err := in.jobs.InsertTx(ctx, tx.Tx, PostInstallArgs{ShopID: sh.ID}, nil); err != nil {
		return Shop{}, fmt.Errorf("shops: enqueue post-install %s: %w", domain, err)
	}
	if err := tx.Commit(); err != nil {
		return Shop{}, fmt.Errorf("shops: install %s: %w", domain, err)
	}
	return sh, nil
}

// PostInstallArgs fetches the shop's details and checks webhooks.
type PostInstallArgs struct {
	ShopID int64 `json:"shop_id"`
}

// Kind names the job in River.
func (PostInstallArgs) Kind() string { return "shop.post_install" }

// WebhookPlan says which subscriptions the app needs and how to get them.
type WebhookPlan struct {
	CallbackURL string   // APP_URL + /webhooks
	Topics      []string // non-compliance topics, e.g. app/uninstalled
	// ViaAPI creates missing shop-scoped subscriptions. When false the
	// subscriptions come from shopify.app.toml, which the API does not list,
	// so the check only records what shop-scoped ones exist.
	ViaAPI bool
}

// PostInstallWorker runs after every install.
type PostInstallWorker struct {
	river.WorkerDefaults[PostInstallArgs]
	store *Store
	api   AdminAPI
	plan  WebhookPlan
	log   *slog.Logger
	// AfterInstall, when set, runs once the shop's details are stored: the
	// initial store import starts there. It must tolerate a repeat (the
	// job is retried if anything after it fails).
	AfterInstall func(ctx context.Context, shopID int64) error
	// PixelSettings, when set, activates the app's web pixel with the
	// settings it returns for the shop.
	PixelSettings func(shop string) map[string]string
}

// NewPostInstallWorker returns the worker.
func NewPostInstallWorker(store *Store, api AdminAPI, plan WebhookPlan, log *slog.Logger) *PostInstallWorker {
	return &PostInstallWorker{store: store, api: api, plan: plan, log: log}
}

// Work stores the shop's details (timezone, currency, plan) and makes sure
// the webhook subscriptions are in place.
func (w *PostInstallWorker) Work(ctx context.Context, job *river.Job[PostInstallArgs]) error {
	sh, err := w.store.ByID(ctx, job.Args.ShopID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sh.Installed() {
		return nil
	}
	token, err := w.store.AccessToken(ctx, sh.ID)
	if err != nil {
		return err
	}
	info, err := w.api.ShopInfo(ctx, sh.Domain, token)
	if err != nil {
		return fmt.Errorf("shops: post-install %s: %w", sh.Domain, err)
	}
	if err := w.store.UpdateInfo(ctx, sh.ID, Info{
		Name: info.Name, Email: info.Email, IanaTimezone: info.IanaTimezone,
		Currency: info.CurrencyCode, Plan: info.PlanName,
	}); err != nil {
		return err
	}
	if err := w.store.SetStorefrontOrigins(ctx, sh.ID, storefrontOrigins(sh.Domain, info.PrimaryDomainURL)); err != nil {
		return err
	}
	created, err := w.EnsureWebhooks(ctx, sh.Domain, token)
	if err != nil {
		return fmt.Errorf("shops: post-install %s: %w", sh.Domain, err)
	}
	if w.PixelSettings != nil {
		if err := ActivatePixel(ctx, w.api, sh.Domain, token, w.PixelSettings(sh.Domain)); err != nil {
			return fmt.Errorf("shops: post-install %s: %w", sh.Domain, err)
		}
	}
	w.log.Info("shop installed", "shop", sh.Domain, "timezone", info.IanaTimezone, "webhooks_created", created)
	if w.AfterInstall != nil {
		if err := w.AfterInstall(ctx, sh.ID); err != nil {
			return fmt.Errorf("shops: post-install %s: %w", sh.Domain, err)
		}
	}
	return w.store.MarkWebhooksChecked(ctx, sh.ID, time.Now())
}

// EnsureWebhooks lists the shop-scoped subscriptions and, when the plan says
// so, creates the missing ones pointing at our callback. It returns the
// topics it created.
func (w *PostInstallWorker) EnsureWebhooks(ctx context.Context, shop, token string) ([]string, error) {
	subs, err := w.api.WebhookSubscriptions(ctx, shop, token)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, s := range subs {
		if s.CallbackURL == w.plan.CallbackURL {
			have[s.Topic] = true
		}
	}
	var created []string
	for _, topic := range w.plan.Topics {
		if have[shopify.TopicToEnum(topic)] || !w.plan.ViaAPI {
			continue
		}
		if _, err := w.api.CreateWebhookSubscription(ctx, shop, token, topic, w.plan.CallbackURL); err != nil {
			return created, err
		}
		created = append(created, topic)
	}
	return created, nil
}

// storefrontOrigins are the origins shoppers' browsers send storefront
// requests from, besides the myshopify domain (always allowed): the store's
// primary domain when it is a custom one.
func storefrontOrigins(shopDomain, primaryURL string) []string {
	u, err := url.Parse(primaryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.EqualFold(u.Host, shopDomain) {
		return []string{}
	}
	return []string{"https://" + strings.ToLower(u.Host)}
}
