package reports

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Store reads the rollups.
type Store struct {
	DB *sqlx.DB
}

// Campaign is the report of one campaign of the shop, read from the
// rollups (a campaign without any gets zeros).
func (s *Store) Campaign(ctx context.Context, shopID, campaignID int64) (CampaignReport, error) {
	r := CampaignReport{CampaignID: campaignID}
	var camp struct {
		Snapshot bool   `db:"snapshot"`
		Audience int64  `db:"audience"`
		Winner   string `db:"winner"`
	}
	err := s.DB.GetContext(ctx, &camp, `SELECT snapshot_at IS NOT NULL AS snapshot, COALESCE(audience_size, 0) AS audience,
		ab_winner AS winner FROM campaigns WHERE shop_id = $1 AND id = $2`, shopID, campaignID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reports: campaign %d: %w", campaignID, err)
	}
	r.Audience, r.Winner = camp.Audience, camp.Winner
	audience := map[string]int64{}
	if camp.Snapshot {
		if audience, err = s.audience(ctx, shopID, campaignID); err != nil {
			return r, err
		}
		r.Holdout = audience["holdout"]
	}
	var vs []struct {
		Variant string `db:"variant"`
		Counts
	}
	if err := s.DB.SelectContext(ctx, &vs, `SELECT variant, sum(sent) AS sent, sum(delivered) AS delivered, sum(bounced_hard) AS bounced_hard,
			sum(bounced_soft) AS bounced_soft, sum(dropped) AS dropped, sum(opened) AS opened, sum(clicked) AS clicked,
			sum(clicks) AS clicks, sum(opens) AS opens, sum(unsubscribed) AS unsubscribed, sum(complained) AS complained
		FROM report_daily WHERE shop_id = $1 AND scope = $2 AND scope_id = $3 GROUP BY variant`, shopID, ScopeCampaign, campaignID); err != nil {
		return r, fmt.Errorf("reports: campaign %d counts: %w", campaignID, err)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		r.Total.add(v.Counts)
		r.Variants = append(r.Variants, Variant{Key: v.Variant, Recipients: audience[v.Variant], Counts: v.Counts, Winner: v.Variant != "" && v.Variant == r.Winner})
		seen[v.Variant] = true
	}
	for k, n := range audience { // variants nothing was sent to yet
		if !seen[k] && k != "holdout" {
			r.Variants = append(r.Variants, Variant{Key: k, Recipients: n, Winner: k != "" && k == r.Winner})
		}
	}
	rev, err := s.campaignRevenue(ctx, shopID, campaignID)
	if err != nil {
		return r, err
	}
	for i := range r.Variants {
		r.Variants[i].Revenue = rev[r.Variants[i].Key]
	}
	for _, v := range rev {
		r.Revenue.add(v)
	}
	slices.SortFunc(r.Variants, func(a, b Variant) int {
		if (a.Key == "") != (b.Key == "") {
			if a.Key == "" {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Key, b.Key)
	})
	var rows []struct {
		Dim string `db:"dim"`
		Row
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT dim, key, sum(opens) AS opens, sum(opened) AS opened, sum(clicks) AS clicks, sum(clicked) AS clicked
		FROM report_breakdowns WHERE shop_id = $1 AND scope = $2 AND scope_id = $3 GROUP BY dim, key`, shopID, ScopeCampaign, campaignID); err != nil {
		return r, fmt.Errorf("reports: campaign %d breakdowns: %w", campaignID, err)
	}
	for _, x := range rows {
		switch x.Dim {
		case DimSince:
			if h, err := strconv.Atoi(x.Key); err == nil && h >= 0 && h <= SinceHours {
				r.Since[h] = x.Row
			}
		case DimWeekHour:
			d, h, ok := strings.Cut(x.Key, ":")
			dn, err1 := strconv.Atoi(d)
			hn, err2 := strconv.Atoi(h)
			if ok && err1 == nil && err2 == nil && dn >= 0 && dn < 7 && hn >= 0 && hn < 24 {
				r.WeekHour[dn][hn] = x.Row
			}
		case DimDevice:
			r.Devices = append(r.Devices, x.Row)
		case DimClient:
			r.Clients = append(r.Clients, x.Row)
		case DimLink:
			r.Links = append(r.Links, x.Row)
		}
	}
	byOpens := func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Opens, a.Opens), cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.Key, b.Key))
	}
	slices.SortFunc(r.Devices, byOpens)
	slices.SortFunc(r.Clients, byOpens)
	slices.SortFunc(r.Links, func(a, b Row) int { return cmp.Or(cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.Key, b.Key)) })
	return r, nil
}

// audience is the snapshot's size per variant. The snapshot doesn't change
// once taken, so it is counted once and kept.
func (s *Store) audience(ctx context.Context, shopID, campaignID int64) (map[string]int64, error) {
	read := func() (map[string]int64, error) {
		var rows []struct {
			Variant string `db:"variant"`
			N       int64  `db:"recipients"`
		}
		if err := s.DB.SelectContext(ctx, &rows, `SELECT variant, recipients FROM report_campaign_audience WHERE shop_id = $1 AND campaign_id = $2`,
			shopID, campaignID); err != nil {
			return nil, fmt.Errorf("reports: campaign %d audience: %w", campaignID, err)
		}
		m := map[string]int64{}
		for _, r := range rows {
			m[r.Variant] = r.N
		}
		return m, nil
	}
	m, err := read()
	if err != nil || len(m) > 0 {
		return m, err
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO report_campaign_audience (shop_id, campaign_id, variant, recipients)
		SELECT $1, $2, variant, count(*) FROM campaign_recipients WHERE shop_id = $1 AND campaign_id = $2 GROUP BY variant
		ON CONFLICT DO NOTHING`, shopID, campaignID); err != nil {
		return nil, fmt.Errorf("reports: campaign %d audience: %w", campaignID, err)
	}
	return read()
}

// Campaigns is each listed campaign's totals (the campaigns list).
func (s *Store) Campaigns(ctx context.Context, shopID int64, ids []int64) (map[int64]Counts, error) {
	out := map[int64]Counts{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID int64 `db:"scope_id"`
		Counts
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT scope_id, sum(sent) AS sent, sum(delivered) AS delivered, sum(bounced_hard) AS bounced_hard,
			sum(bounced_soft) AS bounced_soft, sum(dropped) AS dropped, sum(opened) AS opened, sum(clicked) AS clicked,
			sum(clicks) AS clicks, sum(opens) AS opens, sum(unsubscribed) AS unsubscribed, sum(complained) AS complained
		FROM report_daily WHERE shop_id = $1 AND scope = $2 AND scope_id = ANY($3) GROUP BY scope_id`, shopID, ScopeCampaign, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("reports: campaign totals: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Counts
	}
	return out, nil
}
