package wheel

import (
	"context"
	"fmt"
)

// Stats are the wheel's figures since it was created.
type Stats struct {
	// Impressions counts wheel_viewed events; ImpressionsKnown is false
	// when the events table is missing (then Impressions is 0).
	Impressions      int64
	ImpressionsKnown bool
	Spins            int64
	Signups          int64 // spins that changed the profile's consent to subscribed
	CodesIssued      int64 // codes Shopify created
	CodesPending     int64
	CodesFailed      int64
	CodesRedeemed    int64 // issued codes found on an order (not cancelled, not test)
}

// ConversionRate is signups per impression, in percent (false when there
// are no impressions to divide by).
func (s Stats) ConversionRate() (float64, bool) {
	if !s.ImpressionsKnown || s.Impressions == 0 {
		return 0, false
	}
	return float64(s.Signups) / float64(s.Impressions) * 100, true
}

// Stats computes the shop's wheel figures.
func (s *Service) Stats(ctx context.Context, shopID int64) (Stats, error) {
	var st Stats
	err := s.d.DB.QueryRowxContext(ctx, `
		SELECT count(*),
		       count(*) FILTER (WHERE subscribed),
		       count(*) FILTER (WHERE code_status = 'created'),
		       count(*) FILTER (WHERE code_status = 'pending'),
		       count(*) FILTER (WHERE code_status = 'failed')
		FROM spins WHERE shop_id = $1`, shopID).Scan(&st.Spins, &st.Signups, &st.CodesIssued, &st.CodesPending, &st.CodesFailed)
	if err != nil {
		return Stats{}, fmt.Errorf("wheel: stats for shop %d: %w", shopID, err)
	}
	// Shopify matches codes case-insensitively, and orders keep the code as
	// the shopper typed it; the GIN index on discount_codes serves the
	// overlap test.
	if err := s.d.DB.GetContext(ctx, &st.CodesRedeemed, `
		SELECT count(*) FROM spins s
		WHERE s.shop_id = $1 AND s.code_status = 'created'
		  AND EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = s.shop_id
		              AND o.discount_codes && ARRAY[s.code, lower(s.code)]
		              AND o.cancelled_at IS NULL AND NOT o.test)`, shopID); err != nil {
		return Stats{}, fmt.Errorf("wheel: redeemed codes for shop %d: %w", shopID, err)
	}
	var hasEvents bool
	if err := s.d.DB.GetContext(ctx, &hasEvents, `SELECT to_regclass('events') IS NOT NULL`); err != nil {
		return Stats{}, fmt.Errorf("wheel: events table: %w", err)
	}
	if hasEvents {
		if err := s.d.DB.GetContext(ctx, &st.Impressions, `SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'wheel_viewed'`, shopID); err != nil {
			return Stats{}, fmt.Errorf("wheel: impressions for shop %d: %w", shopID, err)
		}
		st.ImpressionsKnown = true
	}
	return st, nil
}
