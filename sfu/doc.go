// Package sfu is Confab's media core: the pion setup shared by every peer, the
// peer connection of each participant, and the forwarding of published tracks to
// subscribers.
//
// A Track is a track one participant publishes. One goroutine reads its RTP
// in batches (the first packet waiting, then whatever is already queued)
// and hands them to the DownTracks subscribed to it (batch.go; over several
// goroutines when the subscribers are many and the server has the cores); a
// DownTrack is the subscriber's own local track with its own SSRC and payload
// type. The subscriber list is a copy-on-write slice read without a lock.
//
// Once a subscriber's connection is up, its packets take the direct path
// (direct.go): the server seals them with the subscriber's SRTP keys, which it
// learns from the DTLS handshake through pion's hooks (dtlskeys.go), with its
// own AES-GCM (srtpgcm.go), and writes a batch's packets to the media socket
// in one segmented send (UDP GSO) with a raw system call (rawio_linux.go).
// The fan-out never waits on a subscriber: a full socket buffer drops the
// datagrams. A publisher's RTP takes the direct path the other way
// (receive.go): the socket's reader decrypts it and queues it for the track,
// around pion's chain of receive goroutines and interceptors. The track's
// forwarder notes each packet's arrival for the receiver reports and NACKs
// (reception.go), and the receiver records it for the transport-cc feedback.
// One goroutine per API sends every peer's RTCP on one ticker (rtcploop.go):
// feedback and NACKs ten times a second, sender and receiver reports once,
// sealed and written by the loop itself on the direct route. ICE and DTLS
// stay with pion, and so does the RTCP the peers send.
//
// The package imports pion and nothing of Confab's; rooms and signaling sit above.
package sfu
