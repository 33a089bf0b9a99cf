package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// TestRelayOnlyThroughEmbeddedTURN: two participants whose ICE may use only
// relayed candidates join through the embedded TURN server on loopback and
// exchange media both ways through the SFU.
func TestRelayOnlyThroughEmbeddedTURN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{TURN: true})
	ann := newParticipant(ctx, t, srv, "turn", "ann", client.Options{RelayOnly: true})
	bob := newParticipant(ctx, t, srv, "turn", "bob", client.Options{RelayOnly: true})
	wait(t, ctx, "ann receives bob", func(ctx context.Context) error {
		return ann.WaitRemoteTracks(ctx, hasExactly(map[string]string{bob.Self().ID: "bob"}))
	})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	for _, p := range []*participant{ann, bob} {
		pair, err := p.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected pair: %v", p.name, err)
		}
		if pair.Local.Typ.String() != "relay" {
			t.Fatalf("%s's media does not go through TURN: local candidate %s", p.name, pair.Local)
		}
	}
}
