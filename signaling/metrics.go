package signaling

import (
	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
)

// MetricsSource gives the metrics their numbers at scrape time, from the
// media core's counters and the rooms.
func MetricsSource(api *sfu.API, rms *rooms.Manager) metrics.Source {
	return snapshotSource{api: api, rooms: rms}
}

type snapshotSource struct {
	api   *sfu.API
	rooms *rooms.Manager
}

// Snapshot implements metrics.Source.
func (s snapshotSource) Snapshot() metrics.Snapshot {
	st := s.api.Stats()
	nRooms, nParticipants := s.rooms.Counts()
	return metrics.Snapshot{
		Rooms: nRooms, Participants: nParticipants,
		PublishedTracks: st.PublishedTracks, ForwardedTracks: st.ForwardedTracks,
		PacketsIn: st.PacketsIn, BytesIn: st.BytesIn, PacketsOut: st.PacketsOut, BytesOut: st.BytesOut,
		NACKsReceived: st.NACKsReceived, NACKsSent: st.NACKsSent,
		Retransmissions: st.Retransmissions, PLIsSent: st.PLIsSent, RetransmissionsLimited: st.RetransmissionsLimited,
		DirectPacketsOut: st.DirectPacketsOut, DirectPacketsIn: st.DirectPacketsIn,
		DirectDrops: st.DirectDrops, DirectDecryptFailures: st.DirectDecryptFailures,
		OverLimitDrops: st.OverLimitDrops, ControlRateDrops: st.ControlRateDrops,
		UnknownSSRCDrops: st.UnknownSSRCDrops,
	}
}
