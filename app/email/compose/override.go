package compose

import (
	"context"
	"errors"
	"fmt"

	"github.com/cartwheel/cartwheel/app/email/render"
)

type overKey struct {
	id                 int64
	subject, preheader string
}

// GetFor is Get with the template's subject and preheader replaced by
// subject and preheader where those are not empty: a campaign (or its A/B
// variant) sets its own subject line over a shared template. Merge tags in
// them work as in the template's own. Each combination is compiled once per
// batch; a subject that doesn't compile (a bad merge tag) is an ErrTemplate,
// like a broken template.
func (t *Templates) GetFor(ctx context.Context, id int64, subject, preheader string) (*render.Compiled, error) {
	if subject == "" && preheader == "" {
		return t.Get(ctx, id)
	}
	k := overKey{id, subject, preheader}
	if c, ok := t.over[k]; ok {
		return c.c, c.err
	}
	if id == 0 {
		return nil, fmt.Errorf("%w: the message names no template", ErrTemplate)
	}
	saved, err := t.src.Get(ctx, t.shopID, id)
	if errors.Is(err, render.ErrNotFound) {
		err = fmt.Errorf("%w: template %d no longer exists", ErrTemplate, id)
		t.remember(k, compiled{err: err})
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("compose: template %d: %w", id, err)
	}
	tpl := saved.Template
	if subject != "" {
		tpl.Subject = subject
	}
	if preheader != "" {
		tpl.Preheader = preheader
	}
	c, err := render.Compile(tpl)
	if err != nil {
		err = fmt.Errorf("%w: template %d with the campaign's subject: %v", ErrTemplate, id, err)
	}
	t.remember(k, compiled{c: c, err: err})
	return c, err
}

func (t *Templates) remember(k overKey, c compiled) {
	if t.over == nil {
		t.over = map[overKey]compiled{}
	}
	t.over[k] = c
}
