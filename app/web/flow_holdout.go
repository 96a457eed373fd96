package web

import (
	"fmt"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// addFlowIncrementality adds the holdout comparison to a flow's report:
// revenue per recipient of the runs that got its emails minus that of the
// runs held out, with both groups' sizes (reports.FlowIncrementality).
func (s *server) addFlowIncrementality(c *gin.Context, v *views.FlowReport, f flows.Flow, rg reports.Range, currency string) error {
	inc, ok, err := s.Reports.FlowIncrementality(c.Request.Context(), f.ShopID, f.ID, rg, s.Now())
	if err != nil {
		return err
	}
	if !ok {
		if f.Draft.HoldoutPercent > 0 || inc.Held > 0 {
			v.HoldoutNote = fmt.Sprintf("No comparison yet for this range: %s mailed and %s held out so far (both are needed).",
				plural(int(inc.Mailed), "customer"), plural(int(inc.Held), "customer"))
		}
		return nil
	}
	window := fmt.Sprintf("orders placed from a customer's entry to %s after their run ended (the click window), credited to an email or not",
		plural(inc.WindowDays, "day"))
	v.HoldoutNote = fmt.Sprintf("Customers who entered between %s and %s: %s got the emails, %s were held out and got none.",
		inc.From.Format("2 Jan 2006"), inc.To.Add(-time.Nanosecond).Format("2 Jan 2006"), thousands(int(inc.Mailed)), thousands(int(inc.Held)))
	v.Incrementality = []views.ReportMetric{
		{Key: "mailed", Label: "Customers mailed", Count: thousands(int(inc.Mailed)),
			Definition: "Entries in the range, not held out, that were sent at least one of this flow's emails."},
		{Key: "held", Label: "Customers held out", Count: thousands(int(inc.Held)),
			Definition: "Entries in the range held out (the flow's holdout share) that reached at least one email step and were sent nothing."},
		{Key: "mailed_per_recipient", Label: "Revenue per mailed customer", Count: money(inc.MailedPerRecipient(), currency),
			Definition: "What the mailed customers' orders paid ÷ customers mailed; " + window + "."},
		{Key: "held_per_recipient", Label: "Revenue per held-out customer", Count: money(inc.HeldPerRecipient(), currency),
			Definition: "What the held-out customers' orders paid ÷ customers held out; " + window + "."},
		{Key: "incremental_per_recipient", Label: "Incremental revenue per recipient", Count: money(inc.Lift(), currency),
			Definition: "Revenue per mailed customer minus revenue per held-out customer: what the emails added per customer."},
		{Key: "incremental_revenue", Label: "Incremental revenue", Count: money(inc.Incremental(), currency),
			Definition: "Incremental revenue per recipient × customers mailed: what the emails added over not sending them, by the holdout."},
	}
	return nil
}
