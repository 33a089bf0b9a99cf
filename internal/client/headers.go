package client

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// parsedHeaders is the interceptor a light client puts under pion's (see
// Options.LightInterceptors). pion's NACK generator and receiver reports
// each look for a received packet's RTP header in its attributes and,
// finding none, parse it into a new map and a new header: allocations on
// every packet received, which at hundreds of receivers in one load
// process kept its collector busy and the kernel zeroing fresh pages for
// it. Each remote stream's reader here hands its own attributes up the
// chain instead, holding the header parsed once, where pion looks for it.
type parsedHeaders struct {
	interceptor.NoOp
}

// NewInterceptor makes parsedHeaders its own factory.
func (p *parsedHeaders) NewInterceptor(string) (interceptor.Interceptor, error) { return p, nil }

// BindRemoteStream gives the stream a reader that hands its packets up with
// their parsed headers.
func (*parsedHeaders) BindRemoteStream(_ *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	return &headerReader{reader: reader}
}

// headerReader is one remote stream's reader of parsedHeaders. pion reads a
// stream from one goroutine at a time, so attr and hdr need no lock.
type headerReader struct {
	reader interceptor.RTPReader
	attr   interceptor.Attributes
	hdr    rtp.Header
}

// Read reads a packet and returns, when the reader below handed up no
// attributes, the stream's own holding its parsed header. A packet whose
// header does not parse goes up without, for the interceptors to report.
func (h *headerReader) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	n, a, err := h.reader.Read(b, a)
	if err != nil || a != nil || headerKey == nil {
		return n, a, err
	}
	if _, perr := h.hdr.Unmarshal(b[:n]); perr != nil {
		return n, a, nil
	}
	if h.attr == nil {
		h.attr = make(interceptor.Attributes, 1)
	}
	clear(h.attr) // nothing an interceptor added stays for the next packet
	h.attr[headerKey] = &h.hdr
	return n, h.attr, nil
}

// headerKey is the key pion's interceptors keep a packet's parsed RTP
// header under in its attributes (Attributes.GetRTPHeader). pion does not
// export it; it is found once, by having pion store a header in empty
// attributes, and never changes. nil if that does not give exactly one key,
// and then headerReader hands up nothing of its own.
var headerKey = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil || len(a) != 1 {
		return nil
	}
	for k := range a {
		return k
	}
	return nil
}()
