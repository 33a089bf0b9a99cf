package client

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes pion's logs to the client's slog.Logger: trace is
// dropped, debug and info become Debug, warnings Warn and errors Error.
type pionLoggerFactory struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)                      {}
func (l pionLogger) Tracef(string, ...any)             {}
func (l pionLogger) Debug(msg string)                  { l.log.Debug(msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }
func (l pionLogger) Info(msg string)                   { l.log.Debug(msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l pionLogger) Warn(msg string)                   { l.log.Warn(msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args) }
func (l pionLogger) Error(msg string)                  { l.log.Error(msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }

// logf formats only when the level is enabled: pion logs often at debug level.
func (l pionLogger) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}
