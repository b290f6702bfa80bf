package estserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The CA's records live in a SQL database: SQLite (a file, through a
// pure-Go driver, so that the CLI builds without cgo) by default, or
// PostgreSQL for several est-server replicas on one database. The database
// enforces what must hold whatever the processes do: serial numbers are
// unique, a certificate has at most one successor (renews is UNIQUE), a
// name is owned by one key at a time (owners), CRL numbers come from one
// counter and the CA is created once (meta has one row).

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// db is the CA's database.
type db struct {
	sql *sql.DB
	d   dialect
}

// ErrUnsupportedStore is returned for a store that names no supported
// database.
var ErrUnsupportedStore = errors.New("estserver: unsupported store")

var memDBs atomic.Int64

// openDB opens (and creates the tables of) the database a store names:
// "sqlite:PATH" or a path (SQLite), "sqlite::memory:" (an in-memory
// SQLite database, for NewCA), or a "postgres://" / "postgresql://" URL.
func openDB(ctx context.Context, store string) (*db, error) {
	var d *db
	switch {
	case strings.HasPrefix(store, "postgres://"), strings.HasPrefix(store, "postgresql://"):
		s, err := sql.Open("pgx", store)
		if err != nil {
			return nil, fmt.Errorf("estserver: store %s: %w", redact(store), err)
		}
		s.SetMaxOpenConns(16)
		s.SetMaxIdleConns(16)
		d = &db{sql: s, d: dialectPostgres}
	case store == "sqlite::memory:":
		// One connection: each connection to :memory: is its own database.
		s, err := sql.Open("sqlite", fmt.Sprintf("file:estserver-mem-%d?mode=memory&_txlock=immediate&_pragma=foreign_keys(1)", memDBs.Add(1)))
		if err != nil {
			return nil, err
		}
		s.SetMaxOpenConns(1)
		d = &db{sql: s, d: dialectSQLite}
	case strings.HasPrefix(store, "sqlite:") || !strings.Contains(store, "://") && !strings.Contains(store, ":"):
		path := strings.TrimPrefix(store, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("%w %q: sqlite:PATH names the database file", ErrUnsupportedStore, store)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		// The file holds the CA's private key: the directory must be
		// ours alone (nobody else can then plant a symlink or swap the
		// file between this check and SQLite's own open of the path, nor
		// plant the -wal and -shm files), and the file is created
		// private, or checked on its descriptor if it exists.
		if err := checkPrivateDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		if err := createPrivateFile(path); err != nil {
			return nil, err
		}
		// Immediate transactions: a read that leads to a write cannot
		// lose against another process's write (busy_timeout waits).
		s, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)")
		if err != nil {
			return nil, err
		}
		s.SetMaxOpenConns(1)
		d = &db{sql: s, d: dialectSQLite}
	default:
		return nil, fmt.Errorf("%w %q: use sqlite:PATH (the default, one process) or postgres://USER@HOST/DB (several replicas)", ErrUnsupportedStore, redact(store))
	}
	if err := d.migrate(ctx); err != nil {
		d.sql.Close()
		return nil, fmt.Errorf("estserver: store %s: %w", redact(store), err)
	}
	return d, nil
}

// redact hides a password in a database URL.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.IndexByte(s[i+3:], '@'); j >= 0 {
			cred := s[i+3 : i+3+j]
			if k := strings.IndexByte(cred, ':'); k >= 0 {
				return s[:i+3] + cred[:k] + ":***" + s[i+3+j:]
			}
		}
	}
	return s
}

// schemaVersion is the version of the tables below.
const schemaVersion = 1

func (d *db) schema() []string {
	blob := "BLOB"
	if d.d == dialectPostgres {
		blob = "BYTEA"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS meta (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			schema_version INTEGER NOT NULL,
			ca_cert ` + blob + ` NOT NULL,
			ca_key ` + blob + ` NOT NULL,
			crl_number BIGINT NOT NULL,
			rev_gen BIGINT NOT NULL,
			crl_der ` + blob + `,
			crl_gen BIGINT NOT NULL DEFAULT -1,
			crl_until BIGINT NOT NULL DEFAULT 0)`,
		`CREATE TABLE IF NOT EXISTS certs (
			serial TEXT PRIMARY KEY,
			der ` + blob + ` NOT NULL,
			cn TEXT NOT NULL,
			spki TEXT NOT NULL,
			not_before BIGINT NOT NULL,
			not_after BIGINT NOT NULL,
			revoked_at BIGINT,
			enrolled_by TEXT,
			renews TEXT UNIQUE,
			settled INTEGER NOT NULL DEFAULT 1)`,
		`CREATE INDEX IF NOT EXISTS certs_spki ON certs (spki, cn)`,
		`CREATE INDEX IF NOT EXISTS certs_revoked ON certs (not_after) WHERE revoked_at IS NOT NULL`,
		`CREATE INDEX IF NOT EXISTS certs_unsettled ON certs (not_before) WHERE settled = 0`,
		`CREATE TABLE IF NOT EXISTS cert_names (
			name TEXT NOT NULL,
			serial TEXT NOT NULL REFERENCES certs (serial),
			PRIMARY KEY (name, serial))`,
		`CREATE TABLE IF NOT EXISTS owners (
			name TEXT PRIMARY KEY,
			spki TEXT NOT NULL,
			serial TEXT NOT NULL)`,
	}
}

// migrate creates the tables, once even when replicas start together.
func (d *db) migrate(ctx context.Context) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if d.d == dialectPostgres {
			// Concurrent CREATE TABLE IF NOT EXISTS can collide in
			// PostgreSQL's catalogue: one replica at a time.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7030)"); err != nil {
				return err
			}
		}
		for _, s := range d.schema() {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		var v int
		err := tx.QueryRowContext(ctx, "SELECT schema_version FROM meta WHERE id = 1").Scan(&v)
		if err == nil && v != schemaVersion {
			return fmt.Errorf("database schema version %d, this program knows %d", v, schemaVersion)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
}

// q rewrites ? placeholders for PostgreSQL ($1, $2, ...).
func (d *db) q(query string) string {
	if d.d != dialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxAttempts bounds the retries of a transaction that lost a race
// (serialization failure, unique violation, busy database).
const maxAttempts = 8

// tx runs fn in a transaction, retrying it when the database says it
// conflicted with another one. SQLite runs one writing transaction at a
// time (immediate transactions); on PostgreSQL (read committed) the
// enrolment locks the names it decides about (records.lockNames), and the
// constraints catch the rest.
func (d *db) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
			}
		}
		var tx *sql.Tx
		tx, err = d.sql.BeginTx(ctx, opts)
		if err != nil {
			if retryable(err) {
				continue
			}
			return err
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err == nil || !retryable(err) {
			return err
		}
	}
	return fmt.Errorf("estserver: database busy (%d attempts): %w", maxAttempts, err)
}

// retryable reports a conflict that a new attempt may not meet.
func retryable(err error) bool {
	if errors.Is(err, errConflict) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "40001", "40P01", "23505": // serialization failure, deadlock, unique violation
			return true
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		if se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return true
		}
	}
	return false
}
