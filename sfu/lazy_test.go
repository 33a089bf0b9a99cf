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
	reads   int
	closed  bool
}

func (r *recordingInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.writer = w
	return w
}

func (r *recordingInterceptor) BindRTCPReader(below interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		r.reads++
		return below.Read(b, a)
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
	below := interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) { return len(b), a, nil })
	reader := lazy.BindRTCPReader(below)
	if _, _, err := reader.Read(make([]byte, 8), nil); err != nil || len(f.built) != 0 {
		t.Fatalf("read %v; built %d interceptors before any stream, want 0", err, len(f.built))
	}

	for range 2 {
		lazy.BindRemoteStream(&interceptor.StreamInfo{SSRC: 1}, nil)
	}
	if len(f.built) != 1 || f.built[0].streams != 2 || f.built[0].writer == nil {
		t.Fatalf("built %d interceptors; want one, bound to the writer and both streams", len(f.built))
	}
	if _, _, err := reader.Read(make([]byte, 8), nil); err != nil || f.built[0].reads != 1 {
		t.Fatalf("read %v; the built interceptor saw %d RTCP reads, want 1", err, f.built[0].reads)
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
