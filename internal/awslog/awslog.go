// Package awslog routes the AWS SDK's own log lines through the logger of
// the command or service, so that they take its format (text on a
// terminal, JSON in production) instead of being printed raw on stderr:
// aws-sdk-go-v2 writes "SDK 2026/11/20 10:00:00 WARN falling back to
// IMDSv1: …" to os.Stderr unless given a logger. Every place that loads an
// AWS configuration passes Option. It imports the SDK only.
package awslog

import (
	"context"
	"fmt"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// Logger is a smithy logging.Logger writing to a slog.Logger; a nil one
// drops the lines.
type Logger struct{ L *slog.Logger }

// Logf logs one SDK line at the SDK's level (warnings as warnings, debug
// as debug), marked component=aws-sdk.
func (l Logger) Logf(c logging.Classification, format string, v ...any) {
	if l.L == nil {
		return
	}
	level := slog.LevelInfo
	switch c {
	case logging.Warn:
		level = slog.LevelWarn
	case logging.Debug:
		level = slog.LevelDebug
	}
	l.L.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "aws-sdk")
}

// Option is the awsconfig.LoadDefaultConfig option that installs l.
func Option(l *slog.Logger) func(*awsconfig.LoadOptions) error {
	return awsconfig.WithLogger(Logger{l})
}
