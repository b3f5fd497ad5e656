package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/store/postgres"
	"github.com/trailwatch/trailwatch/internal/store/postgres/pgtest"
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
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	cfg := config.Default()
	// The DSN from the environment, as a deployment writes it.
	cfg.Store.DSN = "${TW_TEST_DSN}"
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
