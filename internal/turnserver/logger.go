package turnserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory routes pion's logs to slog: trace is dropped, debug and info
// become Debug (pion/turn logs every packet without a permission at info),
// warnings Warn and errors Error. A message is formatted only when its level
// is enabled: pion passes live structures to its debug formats, and
// formatting them needlessly races with their owners.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) Trace(string)                      {}
func (l slogLeveled) Tracef(string, ...any)             {}
func (l slogLeveled) Debug(msg string)                  { l.log.Debug(msg) }
func (l slogLeveled) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }
func (l slogLeveled) Info(msg string)                   { l.log.Debug(msg) }
func (l slogLeveled) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l slogLeveled) Warn(msg string)                   { l.log.Warn(msg) }
func (l slogLeveled) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args) }
func (l slogLeveled) Error(msg string)                  { l.log.Error(msg) }
func (l slogLeveled) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }

func (l slogLeveled) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if l.log.Enabled(ctx, level) {
		l.log.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}
