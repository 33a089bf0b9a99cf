package load

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// queueDropsMetric counts the publishers' packets a Confab server shed
// because a track's queue was full: its forwarding was starved of CPU.
// Audio is not repaired by NACK, so a shed audio packet is lost to every
// receiver of the track.
const queueDropsMetric = "confab_rtp_direct_drops_total"

// metricsTimeout bounds one read of the server's metrics.
const metricsTimeout = 2 * time.Second

// serverCounter reads the counter name, without labels, from the
// Prometheus text the server at base serves on /metrics.
func serverCounter(ctx context.Context, base, name string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("server metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("server metrics: %s", resp.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		value, ok := strings.CutPrefix(lines.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("server metrics: %s: bad value %q", name, value)
		}
		return uint64(v), nil
	}
	if err := lines.Err(); err != nil {
		return 0, fmt.Errorf("server metrics: %w", err)
	}
	return 0, fmt.Errorf("server metrics: no %s", name)
}
