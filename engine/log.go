package engine

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// WithLogger returns ctx carrying l; the engine logs to it.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// logger is the context's logger, or one that discards.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// logOutcome logs what a strategy did.
func logOutcome(ctx context.Context, t Target, out Outcome) {
	logger(ctx).LogAttrs(ctx, slog.LevelInfo, "engine action",
		slog.String("strategy", string(out.Strategy)), slog.String("namespace", t.Namespace),
		slog.String("deployment", t.Deployment), slog.String("incident", t.IncidentID),
		slog.Bool("alreadyDone", out.AlreadyDone), slog.String("from", out.FromVersion),
		slog.String("to", out.ToVersion), slog.String("message", out.Message))
}

// logged runs a strategy's action and logs its outcome or error.
func logged(ctx context.Context, t Target, act func() (Outcome, error)) (Outcome, error) {
	out, err := act()
	if err != nil {
		logger(ctx).LogAttrs(ctx, slog.LevelWarn, "engine action failed",
			slog.String("strategy", string(out.Strategy)), slog.String("namespace", t.Namespace),
			slog.String("deployment", t.Deployment), slog.String("incident", t.IncidentID), slog.Any("error", err))
		return out, err
	}
	logOutcome(ctx, t, out)
	return out, nil
}
