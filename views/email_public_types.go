package views

import "strings"

// PublicMessage is a small standalone page shown to shoppers and merchants
// outside the admin (unsubscribe, sender confirmation): no login, no
// JavaScript, localised.
type PublicMessage struct {
	Lang     string // "en" or "zh-CN"
	Title    string
	ShopName string
	Lines    []string
	// Optional form: one button posting to Action.
	Action string
	Button string
	Tone   string // "" | "success" | "critical"
}

// Unsubscribe page states.
const (
	UnsubAsk          = "ask"
	UnsubDone         = "done"
	UnsubResubscribed = "resubscribed"
	UnsubBadLink      = "bad"
)

// UnsubscribeView describes the unsubscribe page.
type UnsubscribeView struct {
	Lang, State, ShopName, Email, Action string
}

var unsubText = map[string]map[string]string{
	"en": {
		"title":          "Email preferences",
		"ask":            "Unsubscribe %s from marketing emails from %s?",
		"ask_button":     "Unsubscribe",
		"done":           "You're unsubscribed. %s won't send marketing emails to %s any more.",
		"done_note":      "Unsubscribed by mistake?",
		"resub_button":   "Re-subscribe",
		"resubscribed":   "Welcome back! %s is subscribed to emails from %s again.",
		"resub_note":     "Changed your mind again?",
		"bad":            "This unsubscribe link is not valid. Please use the link from the most recent email you received.",
		"bad_title":      "Link not valid",
		"unsub_again":    "Unsubscribe",
		"done_title":     "Unsubscribed",
		"resub_title":    "Subscribed",
		"shop_unknown":   "this shop",
		"email_unknown":  "your address",
		"language_label": "English",
	},
	"zh-CN": {
		"title":          "邮件偏好设置",
		"ask":            "要将 %s 从 %s 的营销邮件中退订吗？",
		"ask_button":     "退订",
		"done":           "您已退订。%s 将不再向 %s 发送营销邮件。",
		"done_note":      "误操作退订了？",
		"resub_button":   "重新订阅",
		"resubscribed":   "欢迎回来！%s 已重新订阅 %s 的邮件。",
		"resub_note":     "又改变主意了？",
		"bad":            "此退订链接无效。请使用您最近收到的邮件中的链接。",
		"bad_title":      "链接无效",
		"unsub_again":    "退订",
		"done_title":     "已退订",
		"resub_title":    "已订阅",
		"shop_unknown":   "此店铺",
		"email_unknown":  "您的邮箱",
		"language_label": "简体中文",
	},
}

// PickLang chooses "zh-CN" or "en" from a locale (e.g. a customer's
// "zh-CN") or, when that is empty, an Accept-Language header.
func PickLang(locale, acceptLanguage string) string {
	for _, cand := range append([]string{locale}, strings.Split(acceptLanguage, ",")...) {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(cand, ";", 2)[0]))
		switch {
		case tag == "":
			continue
		case strings.HasPrefix(tag, "zh"):
			return "zh-CN"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
		if cand == locale && locale != "" {
			continue // a locale we don't translate: fall back to the browser's choice
		}
	}
	return "en"
}

func sprintf(format string, args ...string) string {
	out := format
	for _, a := range args {
		out = strings.Replace(out, "%s", a, 1)
	}
	return out
}

// Message turns the view into the page to render.
func (v UnsubscribeView) Message() PublicMessage {
	t, ok := unsubText[v.Lang]
	if !ok {
		t, v.Lang = unsubText["en"], "en"
	}
	shop, addr := v.ShopName, v.Email
	if shop == "" {
		shop = t["shop_unknown"]
	}
	if addr == "" {
		addr = t["email_unknown"]
	}
	m := PublicMessage{Lang: v.Lang, Title: t["title"], ShopName: v.ShopName, Action: v.Action}
	switch v.State {
	case UnsubDone:
		m.Title, m.Tone = t["done_title"], "success"
		m.Lines = []string{sprintf(t["done"], shop, addr), t["done_note"]}
		m.Button = t["resub_button"]
	case UnsubResubscribed:
		m.Title, m.Tone = t["resub_title"], "success"
		m.Lines = []string{sprintf(t["resubscribed"], addr, shop), t["resub_note"]}
		m.Button = t["unsub_again"]
	case UnsubBadLink:
		m.Title, m.Tone, m.Action = t["bad_title"], "critical", ""
		m.Lines = []string{t["bad"]}
	default:
		m.Lines = []string{sprintf(t["ask"], addr, shop)}
		m.Button = t["ask_button"]
	}
	return m
}
