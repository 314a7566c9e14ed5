package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// batchStmt is one statement of a batch.
type batchStmt struct {
	query string // with ? placeholders, as the store's queries are written
	args  []any
	// want is the number of rows the statement must affect, or -1 for any.
	want int64
}

// errBatchRowsAffected is a statement of a batch that affected other than
// the rows it wants.
var errBatchRowsAffected = errors.New("statement affected an unexpected number of rows")

// execBatch runs stmts in order in the transaction and stops at the first
// that fails or affects other than the rows it wants (errBatchRowsAffected).
// Either leaves the transaction to be rolled back: on PostgreSQL the
// statements after the one that stopped it may have run.
//
// On PostgreSQL the statements go to the server as one pipeline, a
// pgx.Batch on the transaction's own connection: one round trip for all of
// them. One each made a Writer's flush, some 60 statements for a batch of
// 512 visits, wait that many times for the server and then for a processor
// to run the Writer's goroutine again, which the import's busy processing
// goroutines made longer than the server's work. SQLite runs in-process, so
// there the statements run one by one, on the statements prepared on the
// Writer's connection.
func (t *Tx) execBatch(ctx context.Context, stmts []batchStmt) error {
	ctx = t.ctx(ctx)
	if t.raw == nil || len(stmts) == 1 {
		for _, st := range stmts {
			res, err := t.exec(ctx, st.query, st.args...)
			if err != nil {
				return err
			}
			if st.want >= 0 {
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n != st.want {
					return errBatchRowsAffected
				}
			}
		}
		return nil
	}
	return t.raw.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("batch: driver connection %T is not pgx's", dc)
		}
		var b pgx.Batch
		for _, st := range stmts {
			b.Queue(t.s.q(st.query), st.args...)
		}
		br := c.Conn().SendBatch(ctx, &b)
		for _, st := range stmts {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return err
			}
			if st.want >= 0 && tag.RowsAffected() != st.want {
				_ = br.Close()
				return errBatchRowsAffected
			}
		}
		return br.Close()
	})
}
