package sfu

import (
	"io"

	"github.com/pion/transport/v4/packetio"
)

// streamBufferLimit bounds the RTP that pion buffers for one SRTP stream
// until it is read: 256 KiB instead of pion's 1 MB. Nothing reads the
// streams pion opens for SSRCs of no track (up to maxUnbound a peer,
// receive.go): each keeps what arrives on it until the connection closes,
// which with pion's default let one client pin 64 MB of the server's
// memory. A stream that a track reads is drained as its packets come, and
// 256 KiB holds 80 ms of a publisher at rooms.maxPublishBitrate's default
// (25 Mbit/s) behind a stalled forwarder, a second and more of a camera.
// On Linux, once a peer's route is known, its tracks' packets do not pass
// through these buffers at all (receive.go).
const streamBufferLimit = 256 << 10

// rtcpBufferLimit bounds an SRTCP stream's buffer: 32 KiB instead of
// pion's 100 kB. pion opens one, never read, for each SSRC that a peer's
// RTCP is about and no stream has (up to maxUnbound a peer); a read one
// holds a few hundred reports, seconds of any peer's RTCP.
const rtcpBufferLimit = 32 << 10

// newStreamBuffer is the SettingEngine's BufferFactory: pion's buffer, with
// streamBufferLimit for RTP and rtcpBufferLimit for RTCP.
//
// Setting a factory also makes pion start reading a repair stream (RTX,
// FEC) only when its track asks for one; the server negotiates neither
// (codecs.go).
func newStreamBuffer(kind packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
	b := packetio.NewBuffer()
	if kind == packetio.RTPBufferPacket {
		b.SetLimitSize(streamBufferLimit)
	} else {
		b.SetLimitSize(rtcpBufferLimit)
	}
	return b
}
