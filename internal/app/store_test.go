package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/sqlite"
)

func TestOpenStoreSQLite(t *testing.T) {
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "tw.db")
	st, err := OpenStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*sqlite.Store); !ok {
		t.Errorf("OpenStore without dsn = %T, want *sqlite.Store", st)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestOpenStorePostgres(t *testing.T) {
	dsn := os.Getenv("TRAILWATCH_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("TRAILWATCH_POSTGRES_DSN is not set: set it to a PostgreSQL DSN (.ci/run starts one)")
	}
	if !strings.Contains(dsn, "://") {
		t.Fatalf("TRAILWATCH_POSTGRES_DSN must be a postgres:// URL for this test")
	}
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "tw_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	cfg := config.Default()
	cfg.Store.DSN = "${TW_TEST_DSN}" + sep + "search_path=" + schema
	st, err := OpenStore(cfg, func(k string) string {
		if k == "TW_TEST_DSN" {
			return dsn
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*postgres.Store); !ok {
		t.Errorf("OpenStore with dsn = %T, want *postgres.Store", st)
	}
	if err := st.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func TestSecondRunOnOneSQLiteFileRefuses(t *testing.T) {
	cfg := testConfig(t, "https://receiver.example")
	_, stop := start(t, cfg)
	defer stop()
	_, err := NewService(context.Background(), cfg, RunOptions{Getenv: getenv})
	host, _ := os.Hostname()
	if err == nil || !strings.Contains(err.Error(), "in use by another trailwatch run") || !strings.Contains(err.Error(), "on "+host+" since ") {
		t.Errorf("second run on the same file: %v", err)
	}
	// Reading commands still open it, read-only.
	st, err := OpenStoreMode(cfg, getenv, StoreReadOnly)
	if err != nil {
		t.Fatalf("read-only open while run holds the file: %v", err)
	}
	st.Close()
}
