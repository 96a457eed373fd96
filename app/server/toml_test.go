package server_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/webhooks"
)

// The topics the code handles and the subscriptions in shopify.app.toml
// must not drift apart: a topic missing from the toml is never delivered.
func TestTomlSubscribesToEveryHandledTopic(t *testing.T) {
	raw, err := os.ReadFile("../../shopify.app.toml")
	if err != nil {
		t.Fatal(err)
	}
	list := func(key string) []string {
		re := regexp.MustCompile(`(?m)^\s*` + key + `\s*=\s*\[([^\]]*)\]`)
		var out []string
		for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
			for _, item := range strings.Split(m[1], ",") {
				if item = strings.Trim(strings.TrimSpace(item), `"`); item != "" {
					out = append(out, item)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	want := slices.Clone(webhooks.AppTopics)
	slices.Sort(want)
	if got := list("topics"); !slices.Equal(got, want) {
		t.Errorf("toml topics %v, code handles %v", got, want)
	}
	want = slices.Clone(webhooks.ComplianceTopics)
	slices.Sort(want)
	if got := list("compliance_topics"); !slices.Equal(got, want) {
		t.Errorf("toml compliance_topics %v, code handles %v", got, want)
	}
	if !strings.Contains(string(raw), `api_version = "2025-10"`) {
		t.Error("toml webhook api_version must match shopify.APIVersion (2025-10)")
	}
}

func TestEverySubscribedTopicHasAHandler(t *testing.T) {
	app := newApp(t)
	for _, topic := range append(slices.Clone(webhooks.AppTopics), webhooks.ComplianceTopics...) {
		if !app.Webhooks.Handles(topic) {
			t.Errorf("subscribed to %s but nothing handles it", topic)
		}
	}
}
