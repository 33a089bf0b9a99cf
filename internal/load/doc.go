// Package load is Confab's load generator: it joins publishers and
// subscribers to one room of a running server, over the real signaling
// contract and real pion PeerConnections on 127.0.0.1, sends encoder-like
// media, and measures what comes back.
//
// Run drives one run: the publishers join one after the other and start
// sending; the subscribers join, a bounded number at a time; once every
// receiver gets all of its tracks, a warm-up passes, then the measurement
// window. Receivers count packets, loss (packets never received, NACK
// retransmissions included, at the end of a grace period after the
// publishers stop), one-way latency and the time from join to the first
// packet. Given the server's pid, Run reads its CPU time and memory from
// /proc at both ends of the window and divides the CPU time by the packets
// the receivers got in the window.
//
// # Media
//
// Video is H.264 (packetization-mode 1): each frame one NAL unit, cut into
// FU-A fragments of at most MaxPayload bytes and sent in one burst every
// 1/FPS s, the marker bit on the last; a keyframe (an IDR slice,
// KeyframeFactor times as large) every KeyframeInterval and whenever the
// server sends a PLI. Audio is one Opus-sized packet every 20 ms. After its
// codec header every payload carries a 24-byte tag: the publisher's index,
// the packet's index within its track, and its send time on the process's
// Unix clock. Publishers and subscribers live in one process, on one clock.
// Latency is measured from the publisher's socket write to the kernel's
// arrival timestamp at the receiver's socket (see packetTimes), so that the
// load's own delays stay out of it, and also from the tag's time to the
// receiving code, through both clients' pion stacks.
//
// # Cost
//
// One process runs hundreds of receivers. Their clients use the light
// interceptor set and count-only remote tracks (see internal/client), and
// the per-packet work here is a tag decode, one uncontended mutex, a bit in a
// bitmap and a histogram bucket, with no allocation.
package load
