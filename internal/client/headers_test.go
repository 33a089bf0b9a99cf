package client

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestParsedHeadersReadAllocs reads packets through parsedHeaders under
// pion's real NACK generator and receiver reports, as a light client's
// chain does: nothing is allocated per packet (the interceptors parsed each
// header into a new map and header without it), and the receiver report
// still tells the last sequence number read, so the interceptors did see
// the headers.
func TestParsedHeadersReadAllocs(t *testing.T) {
	if headerKey == nil {
		t.Fatal("pion's header key not found")
	}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	rr, err := report.NewReceiverInterceptor(report.ReceiverInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	registry := &interceptor.Registry{}
	registry.Add(&parsedHeaders{})
	registry.Add(gen)
	registry.Add(rr)
	chain, err := registry.Build("")
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()

	const ssrc = 4242
	var (
		mu   sync.Mutex
		last uint32
	)
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			if r, ok := p.(*rtcp.ReceiverReport); ok {
				for _, b := range r.Reports {
					if b.SSRC == ssrc {
						last = b.LastSequenceNumber
					}
				}
			}
		}
		return 0, nil
	}))

	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: ssrc}, Payload: make([]byte, 1000)}
	seq := uint16(0)
	src := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		seq++
		pkt.SequenceNumber = seq
		n, err := pkt.MarshalTo(b)
		return n, a, err
	})
	reader := chain.BindRemoteStream(&interceptor.StreamInfo{
		SSRC: ssrc, ClockRate: 90000, MimeType: "video/VP8",
		RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}},
	}, src)
	buf := make([]byte, 1500)
	read := func() {
		if _, _, err := reader.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		read() // warm up the interceptors' per-stream state
	}
	if allocs := testing.AllocsPerRun(200, read); allocs != 0 {
		t.Fatalf("%.1f allocations per packet read", allocs)
	}
	want := uint32(seq)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := last
		mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver reports tell last sequence number %d, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
