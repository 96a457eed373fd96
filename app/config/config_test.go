package config

import (
	"errors"
	"strings"
	"testing"
)

func validEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL":       "postgres://localhost:5432/cartwheel?sslmode=disable",
		"APP_URL":            "https://cartwheel.example.com/",
		"SHOPIFY_API_KEY":    "key",
		"SHOPIFY_API_SECRET": "secret",
		"SHOPIFY_SCOPES":     "read_customers,write_customers",
		"ENCRYPTION_KEY":     "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"MAIL_PROVIDER":      "outbox",
	}
}

func load(env map[string]string) (*Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestLoadValid(t *testing.T) {
	c, err := load(validEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Env != EnvProduction || len(c.EncryptionKey) != 32 || !c.RunWorkers {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.MetricsToken != "" {
		t.Fatalf("metrics token without METRICS_TOKEN: %q", c.MetricsToken)
	}
	if got := c.AppURL.String(); got != "https://cartwheel.example.com" {
		t.Fatalf("APP_URL trailing slash not trimmed: %q", got)
	}
}

func TestLoadNamesEachBadVariable(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"missing database", "DATABASE_URL", "", "DATABASE_URL is not set"},
		{"mysql database", "DATABASE_URL", "mysql://x", "DATABASE_URL must be a postgres:// URL"},
		{"port text", "PORT", "eighty", `PORT="eighty" is not valid`},
		{"port range", "PORT", "70000", `PORT="70000" is not valid`},
		{"http app url in production", "APP_URL", "http://cartwheel.example.com", "APP_URL=\"http://cartwheel.example.com\" is not valid"},
		{"relative app url", "APP_URL", "cartwheel.example.com", "APP_URL="},
		{"env", "APP_ENV", "staging", `APP_ENV="staging" is not valid`},
		{"key", "SHOPIFY_API_KEY", "", "SHOPIFY_API_KEY is not set"},
		{"secret", "SHOPIFY_API_SECRET", "", "SHOPIFY_API_SECRET is not set"},
		{"scopes", "SHOPIFY_SCOPES", "read customers", "SHOPIFY_SCOPES="},
		{"encryption not base64", "ENCRYPTION_KEY", "not base64!", "ENCRYPTION_KEY is not valid"},
		{"encryption short", "ENCRYPTION_KEY", "c2hvcnQ=", "exactly 32 bytes"},
		{"mail provider", "MAIL_PROVIDER", "pigeon", `MAIL_PROVIDER="pigeon" is not valid`},
		{"sendgrid without key", "MAIL_PROVIDER", "sendgrid", "SENDGRID_API_KEY is not set"},
		{"smtp without url", "MAIL_PROVIDER", "smtp", "SMTP_URL is not valid"},
		{"base url", "SHOPIFY_API_BASE_URL", "::", "SHOPIFY_API_BASE_URL="},
		{"short metrics token", "METRICS_TOKEN", "abc", "METRICS_TOKEN is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := validEnv()
			env[tc.key] = tc.value
			_, err := load(env)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want *Error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	_, err := load(map[string]string{})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	if len(cerr.Problems) < 6 {
		t.Fatalf("want every missing variable named, got %d: %v", len(cerr.Problems), cerr.Problems)
	}
}

func TestDevAllowsHTTPAppURL(t *testing.T) {
	env := validEnv()
	env["APP_ENV"] = "dev"
	env["APP_URL"] = "http://localhost:8080"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dev() {
		t.Fatal("want dev")
	}
}
