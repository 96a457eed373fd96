package web

import (
	"context"
	"fmt"

	"github.com/cartwheel/cartwheel/views"
)

// recomputeNote says how far the recompute of past attribution after a
// window change has come ("" when none runs): Settings shows it under the
// windows and the reports beside their frozen revenue figures.
func (s *server) recomputeNote(ctx context.Context, shopID int64) (string, error) {
	if s.Reports == nil {
		return "", nil
	}
	rc, ok, err := s.Reports.RecomputeStatus(ctx, shopID)
	if err != nil || !ok || !rc.Running() {
		return "", err
	}
	return fmt.Sprintf("Recomputing past attribution with the new windows (click %s, open %s): %d%% done. Until it finishes, "+
		"orders and sales credited to emails are shown as they were before the change, so they never mix two rules.",
		plural(rc.ClickDays, "day"), plural(rc.OpenDays, "day"), rc.Percent()), nil
}

// withRecompute adds the recompute's progress to the settings form.
func (s *server) withRecompute(ctx context.Context, f views.SettingsForm, shopID int64) (views.SettingsForm, error) {
	note, err := s.recomputeNote(ctx, shopID)
	f.AttributionStatus = note
	return f, err
}

// addAttributionExtras adds to a campaign report the recompute's progress
// and, for a campaign with a holdout, the incrementality lines beside the
// last-touch figures.
func (s *server) addAttributionExtras(ctx context.Context, v *views.CampaignReport, shopID, campaignID int64, currency string) error {
	note, err := s.recomputeNote(ctx, shopID)
	if err != nil {
		return err
	}
	v.Recomputing = note
	inc, ok, err := s.Reports.CampaignIncrementality(ctx, shopID, campaignID)
	if err != nil || !ok {
		return err
	}
	window := fmt.Sprintf("orders placed from the campaign's start to %s later (the click window), credited to an email or not",
		plural(inc.WindowDays, "day"))
	v.Revenue = append(v.Revenue,
		views.ReportMetric{Key: "incremental_per_recipient", Label: "Incremental revenue per recipient", Count: money(inc.Lift(), currency),
			Definition: fmt.Sprintf("Holdout comparison: revenue per recipient of the %s mailed (%s) minus that of the %s held out (%s); %s.",
				thousands(int(inc.Mailed)), money(inc.MailedPerRecipient(), currency), thousands(int(inc.Held)),
				money(inc.HeldPerRecipient(), currency), window)},
		views.ReportMetric{Key: "incremental_revenue", Label: "Incremental revenue", Count: money(inc.Incremental(), currency),
			Definition: "Incremental revenue per recipient × recipients mailed: what the email added over not sending it, by the holdout."},
	)
	return nil
}

// plural writes "1 day", "5 days".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
