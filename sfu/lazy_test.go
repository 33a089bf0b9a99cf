package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// recordingInterceptor notes what it is bound to.
type recordingInterceptor struct {
	interceptor.NoOp
	writer  interceptor.RTCPWriter
	streams int
	reads   map[byte]int // by the first byte read
	closed  bool
}

func (r *recordingInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.writer = w
	return w
}

func (r *recordingInterceptor) BindRTCPReader(below interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := below.Read(b, a)
		if r.reads == nil {
			r.reads = make(map[byte]int)
		}
		r.reads[b[0]]++
		return n, a, err
	})
}

func (r *recordingInterceptor) BindRemoteStream(_ *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	r.streams++
	return reader
}

func (r *recordingInterceptor) Close() error {
	r.closed = true
	return nil
}

type recordingFactory struct{ built []*recordingInterceptor }

func (f *recordingFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	r := &recordingInterceptor{}
	f.built = append(f.built, r)
	return r, nil
}

// TestOnFirstStream: the wrapped interceptor is built when the first remote
// stream is bound, not before, and then gets the peer's RTCP writer and
// sees its incoming RTCP; a peer closed before any stream never builds it.
func TestOnFirstStream(t *testing.T) {
	f := &recordingFactory{}
	lazy, err := onFirstStream{f}.NewInterceptor("peer")
	if err != nil {
		t.Fatal(err)
	}
	writer := interceptor.RTCPWriterFunc(func(p []rtcp.Packet, _ interceptor.Attributes) (int, error) { return len(p), nil })
	lazy.BindRTCPWriter(writer)
	// Two RTCP streams (pion binds a reader per sender and receiver), each
	// filling what it reads with its own mark.
	below := func(mark byte) interceptor.RTCPReader {
		return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			b[0] = mark
			return 1, a, nil
		})
	}
	readers := []interceptor.RTCPReader{lazy.BindRTCPReader(below('a')), lazy.BindRTCPReader(below('b'))}
	read := func(r interceptor.RTCPReader, want byte) {
		t.Helper()
		b := make([]byte, 8)
		if _, _, err := r.Read(b, nil); err != nil || b[0] != want {
			t.Fatalf("read %q (%v), want %q: a reader read another's stream", b[0], err, want)
		}
	}
	read(readers[0], 'a')
	read(readers[1], 'b')
	if len(f.built) != 0 {
		t.Fatalf("built %d interceptors before any stream, want 0", len(f.built))
	}

	for range 2 {
		lazy.BindRemoteStream(&interceptor.StreamInfo{SSRC: 1}, nil)
	}
	if len(f.built) != 1 || f.built[0].streams != 2 || f.built[0].writer == nil {
		t.Fatalf("built %d interceptors; want one, bound to the writer and both streams", len(f.built))
	}
	read(readers[0], 'a')
	read(readers[1], 'b')
	read(readers[1], 'b')
	if r := f.built[0].reads; r['a'] != 1 || r['b'] != 2 {
		t.Fatalf("the built interceptor saw RTCP reads %v, want a:1 b:2", r)
	}
	if err := lazy.Close(); err != nil || !f.built[0].closed {
		t.Fatalf("close: %v; built interceptor closed: %v", err, f.built[0].closed)
	}

	unused, _ := onFirstStream{f}.NewInterceptor("other")
	unused.BindRTCPWriter(writer)
	if err := unused.Close(); err != nil {
		t.Fatal(err)
	}
	unused.BindRemoteStream(&interceptor.StreamInfo{SSRC: 2}, nil)
	if len(f.built) != 1 {
		t.Fatalf("a closed peer built an interceptor")
	}
}
