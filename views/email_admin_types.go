package views

// SenderVerification is the Settings section about the sender email's
// confirmation and the DNS records for domain authentication.
type SenderVerification struct {
	Email    string
	Verified bool
	SentAt   string // when the last confirmation email went out, "" if never
	Notice   string // success message after a resend
	Error    string
	DNS      []DNSRow
}

// DNSRow is one DNS record to add at the domain's DNS host.
type DNSRow struct{ Type, Host, Value, Purpose string }

// SuppressionList is Customers › Suppressed.
type SuppressionList struct {
	Rows   []SuppressionRow
	Next   string // keyset cursor for the next page, "" on the last
	Notice string
}

// SuppressionRow is one suppressed address.
type SuppressionRow struct {
	Email, Reason, Source, Since string
	Liftable                     bool // manual suppressions may be lifted by the merchant
}
