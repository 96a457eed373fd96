package views

// CustomerRow is one line of the customers list.
type CustomerRow struct {
	Href        string // /app/customers/:id
	Name, Email string
	Location    string
	Consent     string // label
	ConsentTone string // success, critical, attention, "" (Polaris badge tones)
	Orders      int
	Spent       string
	Tags        []string
}

// CustomerList is the customers page: filters as typed, one page of rows and
// the link to the next page (keyset cursor in `after`).
type CustomerList struct {
	Rows                                []CustomerRow
	Q, Consent, HasOrders, Country, Tag string
	Countries                           []string
	Filtered                            bool   // any filter or search set
	Paged                               bool   // not the first page
	NextHref, FirstHref, ExportHref     string // "" when there is no next page
	ConsentOptions, HasOrdersOptions    []Option
}

// Option is one choice of a <select>.
type Option struct{ Value, Label string }

// KV is a labelled value.
type KV struct{ Key, Value string }

// CustomerProfile is the customer page.
type CustomerProfile struct {
	ID                                 int64
	Name, Email, Phone, Location       string
	Source, Created                    string
	Consent, ConsentTone, ConsentSince string
	OptInLevel                         string
	Suppressed                         string // why the address is suppressed, "" when it is not
	Tags                               []string
	Attributes                         []KV // locale, Shopify id, …
	Properties                         []KV // custom properties from imports
	OrdersCount                        int
	TotalSpent, AverageOrder           string
	FirstOrder, LastOrder              string
	ConsentHistory                     []ConsentRow
	Orders                             []OrderRow
	Timeline                           []TimelineRow
}

// ConsentRow is one consent change.
type ConsentRow struct{ At, State, Level, Source string }

// OrderRow is one order in the profile. Attribution is why Cartwheel
// credits it to an email ("attributed to …: clicked 2 h 14 min before the
// order (click window 5 days)"), ” when it doesn't.
type OrderRow struct{ Name, At, Status, Items, Total, Refunded, Net, Attribution string }

// TimelineRow is one timeline entry.
type TimelineRow struct{ At, Kind, Title, Detail string }

// ImportView is the import page: upload form, mapping preview, progress or report.
type ImportView struct {
	ID                  int64
	Kind, KindLabel     string
	Format, Filename    string
	Status              string // uploaded, queued, running, done, failed
	Error               string
	Columns             []ImportColumn
	Fields              []Option // mapping targets
	SampleRows          [][]string
	RowsTotal, RowsDone int64
	Created, Updated    int64
	Rejected            int64
	Percent             int
	Size                string
	ReportHref          string
	ProgressHref        string
	StartHref           string
	RetryHref           string // POST: queue a failed import again
	// StartFlows: the merchant asked to start welcome flows for the people
	// the file newly subscribes; ImportFlows counts the live flows that
	// would start (subscribed trigger taking imports); -1 when unknown.
	StartFlows  bool
	ImportFlows int
}

// ImportColumn is one column of the uploaded file in the mapping preview.
type ImportColumn struct {
	Index  int
	Header string
	Field  string
	Sample string
}

// ImportsPage is Customers › Import: the upload form and recent imports.
type ImportsPage struct {
	Error  string
	MaxMB  int
	Recent []ImportView
}
