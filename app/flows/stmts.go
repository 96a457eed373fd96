package flows

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// The engine's statements run thousands of times a second: each is
// prepared once per connection (database/sql keeps it per connection), so an
// execution is one round trip without planning, instead of lib/pq's two.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

func (e *Engine) prepared(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	e.stmts.mu.Lock()
	st, ok := e.stmts.m[query]
	if !ok {
		var err error
		if st, err = e.DB.PreparexContext(ctx, query); err != nil {
			e.stmts.mu.Unlock()
			return nil, fmt.Errorf("flows: prepare: %w", err)
		}
		if e.stmts.m == nil {
			e.stmts.m = map[string]*sqlx.Stmt{}
		}
		e.stmts.m[query] = st
	}
	e.stmts.mu.Unlock()
	return tx.StmtxContext(ctx, st), nil
}

func (e *Engine) get(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := e.prepared(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

func (e *Engine) sel(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := e.prepared(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

func (e *Engine) exec(ctx context.Context, tx *sqlx.Tx, query string, args ...any) (sql.Result, error) {
	st, err := e.prepared(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
