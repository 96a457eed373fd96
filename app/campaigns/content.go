package campaigns

import (
	"context"
	"errors"
	"fmt"

	"github.com/cartwheel/cartwheel/app/email/render"
)

// checkContent checks what the campaign will send as the sender will
// compose it: each template it uses (the campaign's, each variant's) with
// the subject and preheader that replace the template's own. A merge tag
// typed wrong in the campaign's subject would otherwise fail every one of
// its emails at send time; here it is refused at Start, on the field.
func (s *Sending) checkContent(ctx context.Context, c Campaign) (FieldErrors, error) {
	store := render.NewStore(s.Store.DB)
	errs := FieldErrors{}
	check := func(prefix string, tplID int64, subject, preheader string) error {
		saved, err := store.Get(ctx, c.ShopID, tplID)
		if errors.Is(err, render.ErrNotFound) {
			errs[prefix+"template_id"] = "That template no longer exists. Choose another."
			return nil
		}
		if err != nil {
			return fmt.Errorf("campaigns: content of %d: %w", c.ID, err)
		}
		t := saved.Template
		if subject != "" {
			t.Subject = subject
		}
		if preheader != "" {
			t.Preheader = preheader
		}
		bad := render.Validate(t)
		if bad == nil {
			return nil
		}
		if bad["subject"] == "" && bad["preheader"] == "" {
			errs[prefix+"template_id"] = "This template can't be sent as it is. Fix it in Templates, or choose another."
		}
		for _, f := range []string{"subject", "preheader"} {
			if m := bad[f]; m != "" {
				errs[prefix+f] = m
			}
		}
		return nil
	}
	if err := check("", c.TemplateID, c.Subject, c.Preheader); err != nil {
		return nil, err
	}
	for i, v := range c.AB.Variants {
		tpl := c.TemplateID
		if v.TemplateID != 0 {
			tpl = v.TemplateID
		}
		if err := check(fmt.Sprintf("ab_variants.%d.", i), tpl, or(v.Subject, c.Subject), or(v.Preheader, c.Preheader)); err != nil {
			return nil, err
		}
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return errs, nil
}
