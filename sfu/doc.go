// Package sfu is Confab's media core: one pion API shared by every peer, the
// peer connection of each participant, and the forwarding of published tracks to
// subscribers.
//
// A Track is a track one participant publishes. One goroutine reads its RTP and
// hands every packet to the DownTracks subscribed to it; a DownTrack is the
// subscriber's own local track with its own SSRC and payload type. The fan-out
// never waits on a subscriber: writes go to pion's SRTP stream, which does not
// block, and the subscriber list is a copy-on-write slice read without a lock.
//
// The package imports pion and nothing of Confab's; rooms and signaling sit above.
package sfu
