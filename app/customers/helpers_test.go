package customers_test

import (
	"context"
	"database/sql"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// nopInserter stands in for River where a test runs the import itself.
type nopInserter struct{}

func (nopInserter) InsertTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

// captureInserter records the jobs queued.
type captureInserter struct{ args []river.JobArgs }

func (c *captureInserter) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c.args = append(c.args, a)
	return &rivertype.JobInsertResult{}, nil
}
