package reports

import (
	"context"
	"fmt"
	"time"
)

// Dashboard reads the Admin home's figures for a range and the period of
// the same length before it.
func (s *Store) Dashboard(ctx context.Context, shopID int64, r Range) (Dashboard, error) {
	d := Dashboard{Range: r}
	n := r.Days()
	d.Compare = Range{From: r.From.AddDate(0, 0, -n), To: r.From.AddDate(0, 0, -1)}
	cur, err := s.MetricsBrief(ctx, shopID, r, Scope{Kind: ScopeAll})
	if err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	prev, err := s.MetricsBrief(ctx, shopID, d.Compare, Scope{Kind: ScopeAll})
	if err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	d.Current, d.Previous = cur.Totals, prev.Totals
	for day := r.From; !day.After(r.To); day = day.Add(24 * time.Hour) {
		d.Days = append(d.Days, DayPoint{Day: day})
	}
	for _, l := range cur.Lines {
		if l.Kind == ScopeCampaign && len(d.TopCampaigns) < TopLines {
			d.TopCampaigns = append(d.TopCampaigns, l)
		}
		if l.Kind == ScopeFlow && len(d.TopFlows) < TopLines {
			d.TopFlows = append(d.TopFlows, l)
		}
	}
	return d, nil
}
