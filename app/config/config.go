// Package config turns the process environment into a typed, validated
// configuration. Every problem is reported with the variable's name and what
// its value must look like, so an operator can fix it from the message alone.
package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Env names the runtime mode.
type Env string

const (
	EnvDev        Env = "dev"
	EnvProduction Env = "production"
)

// Config is the whole runtime configuration of the binary.
type Config struct {
	DatabaseURL string
	Port        int
	AppURL      *url.URL
	Env         Env

	ShopifyAPIKey     string
	ShopifyAPISecret  string
	ShopifyScopes     string
	ShopifyAPIBaseURL string // test override; empty means https://{shop}
	// ShopifyWebhooksViaAPI makes the post-install check create missing
	// shop-scoped webhook subscriptions. Off by default: subscriptions declared
	// in shopify.app.toml apply to every shop and are invisible to the API, so
	// creating them again would double every delivery.
	ShopifyWebhooksViaAPI bool

	EncryptionKey []byte // 32 bytes

	MailProvider             string
	SendGridAPIKey           string
	SendGridWebhookPublicKey string
	SendGridAPIBaseURL       string
	SMTPURL                  string

	// RunWorkers lets `serve` also run the job workers (default true).
	RunWorkers bool

	// MetricsToken, when set, is the bearer token GET /metrics requires.
	MetricsToken string
}

// DevShop is the demo shop `cartwheel dev` installs; in dev, the app's
// root URL leads to its admin.
const DevShop = "demo.myshopify.com"

// Dev reports whether the dev-only helpers (dev login, dev storefront) may run.
func (c *Config) Dev() bool { return c.Env == EnvDev }

// Error lists every invalid variable, one per line, so a single start shows
// all of them rather than one per attempt.
type Error struct{ Problems []string }

func (e *Error) Error() string { return "config: " + strings.Join(e.Problems, "\nconfig: ") }

// Load reads the configuration through getenv (os.Getenv in production; a map
// in tests) and validates it.
func Load(getenv func(string) string) (*Config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }

	c := &Config{
		DatabaseURL:              get("DATABASE_URL"),
		ShopifyAPIKey:            get("SHOPIFY_API_KEY"),
		ShopifyAPISecret:         get("SHOPIFY_API_SECRET"),
		ShopifyScopes:            get("SHOPIFY_SCOPES"),
		ShopifyAPIBaseURL:        get("SHOPIFY_API_BASE_URL"),
		MailProvider:             get("MAIL_PROVIDER"),
		SendGridAPIKey:           get("SENDGRID_API_KEY"),
		SendGridWebhookPublicKey: get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
		SendGridAPIBaseURL:       get("SENDGRID_API_BASE_URL"),
		SMTPURL:                  get("SMTP_URL"),
		MetricsToken:             get("METRICS_TOKEN"),
		RunWorkers:               true,
	}

	switch env := get("APP_ENV"); env {
	case "", "production":
		c.Env = EnvProduction
	case "dev":
		c.Env = EnvDev
	default:
		bad("APP_ENV=%q is not valid: use \"dev\" or \"production\"", env)
	}

	if c.DatabaseURL == "" {
		bad("DATABASE_URL is not set: use a PostgreSQL URL such as postgres://user:pass@localhost:5432/cartwheel?sslmode=disable")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL must be a postgres:// URL, such as postgres://user:pass@localhost:5432/cartwheel?sslmode=disable")
	}

	c.Port = 8080
	if p := get("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			bad("PORT=%q is not valid: use a TCP port number from 1 to 65535", p)
		}
		c.Port = n
	}

	if raw := get("APP_URL"); raw == "" {
		bad("APP_URL is not set: use the app's public https URL, such as https://cartwheel.example.com")
	} else if u, err := url.Parse(raw); err != nil || u.Host == "" || (u.Scheme != "https" && !(c.Env == EnvDev && u.Scheme == "http")) || u.RawQuery != "" || u.Fragment != "" {
		bad("APP_URL=%q is not valid: use an absolute https URL without query, such as https://cartwheel.example.com (http is allowed only with APP_ENV=dev)", raw)
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		c.AppURL = u
	}

	if c.ShopifyAPIKey == "" {
		bad("SHOPIFY_API_KEY is not set: use the app's client ID from the Shopify Dev Dashboard")
	}
	if c.ShopifyAPISecret == "" {
		bad("SHOPIFY_API_SECRET is not set: use the app's client secret from the Shopify Dev Dashboard")
	}
	if c.ShopifyScopes == "" {
		bad("SHOPIFY_SCOPES is not set: use a comma-separated scope list such as read_customers,write_customers,read_orders,read_products")
	} else {
		for _, s := range strings.Split(c.ShopifyScopes, ",") {
			if s = strings.TrimSpace(s); s == "" || strings.ContainsAny(s, " \t/") {
				bad("SHOPIFY_SCOPES=%q is not valid: use comma-separated scope names such as read_customers,write_customers", c.ShopifyScopes)
				break
			}
		}
	}
	if c.ShopifyAPIBaseURL != "" {
		if u, err := url.Parse(c.ShopifyAPIBaseURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("SHOPIFY_API_BASE_URL=%q is not valid: use an absolute http(s) URL of a fake Admin API, or leave it unset", c.ShopifyAPIBaseURL)
		}
	}
	if v := get("SHOPIFY_WEBHOOKS_VIA_API"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("SHOPIFY_WEBHOOKS_VIA_API=%q is not valid: use true or false", v)
		}
		c.ShopifyWebhooksViaAPI = b
	}

	if raw := get("ENCRYPTION_KEY"); raw == "" {
		bad("ENCRYPTION_KEY is not set: use base64 of 32 random bytes, e.g. the output of `openssl rand -base64 32`")
	} else if key, err := base64.StdEncoding.DecodeString(raw); err != nil || len(key) != 32 {
		bad("ENCRYPTION_KEY is not valid: it must be base64 of exactly 32 bytes, e.g. the output of `openssl rand -base64 32`")
	} else {
		c.EncryptionKey = key
	}

	switch c.MailProvider {
	case "":
		c.MailProvider = "outbox"
		if c.Env == EnvProduction {
			bad("MAIL_PROVIDER is not set: use sendgrid, smtp or outbox")
		}
	case "sendgrid":
		if c.SendGridAPIKey == "" {
			bad("SENDGRID_API_KEY is not set: MAIL_PROVIDER=sendgrid needs a SendGrid API key with Mail Send permission")
		}
		if c.SendGridWebhookPublicKey == "" {
			bad("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: MAIL_PROVIDER=sendgrid needs the Event Webhook verification key (base64) from SendGrid's Mail Settings")
		}
	case "smtp":
		if u, err := url.Parse(c.SMTPURL); c.SMTPURL == "" || err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("SMTP_URL is not valid: MAIL_PROVIDER=smtp needs a URL such as smtp://user:pass@smtp.example.com:587")
		}
	case "outbox":
	default:
		bad("MAIL_PROVIDER=%q is not valid: use sendgrid, smtp or outbox", c.MailProvider)
	}
	if c.SendGridAPIBaseURL != "" {
		if u, err := url.Parse(c.SendGridAPIBaseURL); err != nil || u.Host == "" {
			bad("SENDGRID_API_BASE_URL=%q is not valid: use an absolute URL of a fake SendGrid API, or leave it unset", c.SendGridAPIBaseURL)
		}
	}

	if v := get("RUN_WORKERS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("RUN_WORKERS=%q is not valid: use true or false", v)
		}
		c.RunWorkers = b
	}

	if c.MetricsToken != "" && (len(c.MetricsToken) < 16 || strings.ContainsAny(c.MetricsToken, " \t\r\n")) {
		bad("METRICS_TOKEN is not valid: use at least 16 characters without spaces, e.g. the output of `openssl rand -hex 32`, or leave it unset")
	}

	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}
