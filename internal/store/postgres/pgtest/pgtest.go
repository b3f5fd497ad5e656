// Package pgtest gives tests an empty PostgreSQL schema of their own on the
// server TRAILWATCH_POSTGRES_DSN names (.ci/run starts one on loopback and
// sets it, with TRAILWATCH_REQUIRE_POSTGRES=1 so that a missing server
// fails CI instead of skipping). It imports no trailwatch package.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Schema creates an empty schema for this test, dropped when it ends, and
// returns the DSN of the test server with search_path set to it (sent in
// the startup message, so every pooled connection uses it). Without
// TRAILWATCH_POSTGRES_DSN the test is skipped, saying so, unless
// TRAILWATCH_REQUIRE_POSTGRES is set: then it fails.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("TRAILWATCH_POSTGRES_DSN")
	if dsn == "" {
		Missing(t, "TRAILWATCH_POSTGRES_DSN is not set: set it to a PostgreSQL DSN (.ci/run starts one)")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "tw_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("TRAILWATCH_POSTGRES_DSN: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// Missing stops a test that cannot run on the server (or without the
// variable) it was given, saying what is missing: it skips, unless
// TRAILWATCH_REQUIRE_POSTGRES is set (as .ci/run sets it), where every
// PostgreSQL test must really run, and then it fails.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("TRAILWATCH_REQUIRE_POSTGRES") != "" {
		t.Fatalf("TRAILWATCH_REQUIRE_POSTGRES is set (as .ci/run sets it), so this PostgreSQL test must run, but %s", what)
	}
	t.Skip(what)
}
