package shops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// A save that changes an attribution window calls the hook in its
// transaction (so its work commits with the windows or not at all); a save
// that keeps them doesn't.
func TestSaveSettingsCallsTheWindowsHook(t *testing.T) {
	s, d := newStore(t)
	ctx := context.Background()
	sh := install(t, s, d, "windows.myshopify.com", "t", time.Now())
	var calls [][2]int
	fail := false
	s.OnAttributionWindows(func(ctx context.Context, tx *sqlx.Tx, shopID int64, click, open int) error {
		if shopID != sh.ID {
			t.Errorf("hook for shop %d", shopID)
		}
		// The transaction sees the new windows.
		var c, o int
		if err := tx.QueryRowContext(ctx, `SELECT attribution_click_days, attribution_open_days FROM shops WHERE id = $1`, shopID).Scan(&c, &o); err != nil || c != click || o != open {
			t.Errorf("hook's transaction sees %d/%d (%v), want %d/%d", c, o, err, click, open)
		}
		calls = append(calls, [2]int{click, open})
		if fail {
			return errors.New("queue down")
		}
		return nil
	})
	st, err := s.Settings(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	in := st.Input()
	in.SenderName, in.SenderEmail, in.PostalAddress = "Acme", "hi@acme.test", "1 Main St"
	if _, err := s.SaveSettings(ctx, sh.ID, in); err != nil || len(calls) != 0 {
		t.Fatalf("a save keeping the windows: %v, hook calls %v", err, calls)
	}
	in.AttributionClickDays = "3"
	if saved, err := s.SaveSettings(ctx, sh.ID, in); err != nil || saved.AttributionClickDays != 3 || len(calls) != 1 || calls[0] != [2]int{3, 1} {
		t.Fatalf("click window 3: %+v %v, hook calls %v", saved, err, calls)
	}
	fail = true
	in.AttributionOpenDays = "2"
	if _, err := s.SaveSettings(ctx, sh.ID, in); err == nil {
		t.Fatal("a save whose hook failed succeeded")
	}
	if st, _ := s.Settings(ctx, sh.ID); st.AttributionOpenDays != 1 {
		t.Fatalf("a failed hook left the open window at %d", st.AttributionOpenDays)
	}
}
