package wheel

import (
	"net/mail"
	"strings"
)

// disposableDomains are throwaway-inbox services: a prize for an address
// nobody reads is a prize given for nothing. The list is deliberately
// short (the well-known ones); matching covers their subdomains too.
var disposableDomains = []string{
	"mailinator.com", "guerrillamail.com", "guerrillamail.net", "guerrillamail.org", "sharklasers.com",
	"10minutemail.com", "10minutemail.net", "tempmail.com", "temp-mail.org", "tempmail.net", "tempmailo.com",
	"tempr.email", "throwawaymail.com", "yopmail.com", "yopmail.net", "getnada.com", "nada.email",
	"dispostable.com", "trashmail.com", "trashmail.de", "maildrop.cc", "mailnesia.com", "fakeinbox.com",
	"emailondeck.com", "mohmal.com", "mintemail.com", "spamgourmet.com", "mytemp.email", "burnermail.io",
	"discard.email", "tempinbox.com", "moakt.com", "emailfake.com", "mailcatch.com", "spambox.us",
}

// EmailProblem returns why an address can't be used for a spin, or "".
// email must already be trimmed.
func EmailProblem(email string) string {
	if email == "" {
		return "Please enter your email address."
	}
	a, err := mail.ParseAddress(email)
	at := strings.LastIndexByte(email, '@')
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 || at <= 0 {
		return "Please enter a valid email address, like name@example.com."
	}
	domain := strings.ToLower(email[at+1:])
	labels := strings.Split(domain, ".")
	tld := labels[len(labels)-1]
	if len(labels) < 2 || len(tld) < 2 || strings.ContainsAny(domain, "[]") || strings.HasPrefix(domain, "-") {
		return "Please enter a valid email address, like name@example.com."
	}
	for _, l := range labels {
		if l == "" {
			return "Please enter a valid email address, like name@example.com."
		}
	}
	if Disposable(domain) {
		return "Please use your own email address; temporary inboxes can't receive the prize."
	}
	return ""
}

// Disposable reports whether the domain (or a parent of it) is a known
// throwaway-inbox service, or looks like one ("tempmail", "10minutemail").
func Disposable(domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, d := range disposableDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	for _, word := range []string{"tempmail", "temp-mail", "10minutemail", "throwawaymail", "guerrillamail", "mailinator", "yopmail", "trashmail"} {
		if strings.Contains(domain, word) {
			return true
		}
	}
	return false
}

// EmailKey is how spins compare addresses: trimmed and lower-cased.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
