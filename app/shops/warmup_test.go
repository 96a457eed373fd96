package shops_test

import (
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shops"
)

func TestDailyLimitOnFollowsTheWarmup(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(day int) time.Time { return time.Date(2026, 3, day, 12, 0, 0, 0, tokyo) }
	for _, c := range []struct {
		name  string
		st    shops.Settings
		t     time.Time
		limit int
	}{
		{"no warm-up, no limit", shops.Settings{}, at(1), 0},
		{"no warm-up", shops.Settings{DailySendLimit: 700}, at(1), 700},
		{"first day", shops.Settings{WarmupStartedOn: &start}, at(1), 250},
		{"before it starts: as its first day", shops.Settings{WarmupStartedOn: &start}, at(1).AddDate(0, 0, -3), 250},
		{"third day", shops.Settings{WarmupStartedOn: &start}, at(3), 1000},
		{"the daily limit is lower", shops.Settings{WarmupStartedOn: &start, DailySendLimit: 600}, at(3), 600},
		{"last day", shops.Settings{WarmupStartedOn: &start}, at(13), 1024000},
		{"over: no limit", shops.Settings{WarmupStartedOn: &start}, at(14), 0},
		{"over: the daily limit", shops.Settings{WarmupStartedOn: &start, DailySendLimit: 5000}, at(14), 5000},
		// 23:30 UTC on 1 March is already 2 March in Tokyo: the shop's day counts.
		{"the shop's day", shops.Settings{WarmupStartedOn: &start}, time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), 500},
	} {
		if got := c.st.DailyLimitOn(c.t, tokyo); got != c.limit {
			t.Errorf("%s: %d, want %d", c.name, got, c.limit)
		}
	}
}
