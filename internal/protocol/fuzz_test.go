package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeRequest: whatever a client sends, DecodeRequest returns either
// a message of the type the frame's "type" field names, which validates and
// survives re-encoding, or an error the contract can carry: never both,
// never neither, never a panic.
//
// `go test -run '^$' -fuzz FuzzDecodeRequest ./internal/protocol` (make fuzz)
// explores beyond the seeds, which run in every `go test`.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"join","room":"r","name":"n"}`,
		`{"type":"join","room":"r","name":"n","token":"t","resume":"x"}`,
		`{"type":"offer","sdp":"v=0\r\n"}`,
		`{"type":"answer","sdp":"v=0\r\n"}`,
		`{"type":"candidate","candidate":null}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"publish","tracks":[{"trackId":"a","source":"camera"}]}`,
		`{"type":"mute","trackId":"a","muted":true}`,
		`{"type":"chat","text":"hi"}`,
		`{"type":"leave"}`,
		`{"type":"offer","TYPE":"answer","sdp":"v=0"}`,
		`{"type":"join","Type":"leave","room":"r","name":"n"}`,
		`{"type":"leave","type":"join","room":"r","name":"n"}`,
		`{"type":"join","room":5}`,
		`{"type":null}`,
		`[1]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		msg, perr := DecodeRequest(frame)
		if (msg == nil) == (perr == nil) {
			t.Fatalf("DecodeRequest(%q) = %#v, %v: want exactly one", frame, msg, perr)
		}
		if perr != nil {
			if perr.Code == "" || perr.Message == "" || !utf8.ValidString(perr.Message) {
				t.Fatalf("DecodeRequest(%q): error %#v lacks a code or a readable message", frame, perr)
			}
			if _, err := json.Marshal(perr.Wire()); err != nil {
				t.Fatalf("DecodeRequest(%q): error does not encode: %v", frame, err)
			}
			return
		}
		typ, ferr := frameType(frame)
		if ferr != nil {
			t.Fatalf("DecodeRequest(%q) decoded a frame whose type is unreadable: %v", frame, ferr)
		}
		got := reflect.ValueOf(msg).Elem().FieldByName("Type").String()
		if got != typ {
			t.Fatalf("DecodeRequest(%q) = a %q message for a frame of type %q", frame, got, typ)
		}
		again, err := json.Marshal(msg)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", msg, err)
		}
		msg2, perr := DecodeRequest(again)
		if perr != nil {
			t.Fatalf("DecodeRequest(%q) = %#v, but its encoding %s is refused: %v", frame, msg, again, perr)
		}
		if !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("DecodeRequest(%q) = %#v, re-encoded and decoded %#v", frame, msg, msg2)
		}
	})
}
